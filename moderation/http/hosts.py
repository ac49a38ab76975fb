"""The `Host` check (`MODERATION_ALLOWED_HOSTS`), for every path but the probes'.

Health checks and Prometheus reach a process by its address (`127.0.0.1:8000`), never
by the public name; what they get back (a status, the metrics text) is not built from
`Host`, so those exact paths answer whatever `Host` names. Everything else, `/healthz/`
included (its redirect would be built from `Host`), is checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class TrustedHosts:
    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str], exempt: Iterable[str]) -> None:
        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts)
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.exempt:
            await self.app(scope, receive, send)
        else:
            await self.checked(scope, receive, send)
