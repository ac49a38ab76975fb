"""Security headers for the HTML pages the service serves (the desk, the demo page).

Scripts only from our own origins, never inline; no framing of the desk (clickjacking
a moderator into a decision); no MIME sniffing; no full URLs leaked in Referer.
"""

from __future__ import annotations

from collections.abc import Iterable


def page_headers(
    *,
    script_origins: Iterable[str] = (),
    connect_origins: Iterable[str] = (),
    frame_ancestors: str = "'none'",
) -> dict[str, str]:
    """Headers for an HTML page whose scripts come from 'self' and `script_origins`."""
    scripts = " ".join(["'self'", *script_origins])
    connects = " ".join(["'self'", *connect_origins])
    policy = "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            # Styles may be inline: they cannot run code, and the widget styles itself.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            f"connect-src {connects}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if frame_ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"
    return headers
