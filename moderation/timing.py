"""Timing each HTTP request and catching its status: what the metrics middleware and the
access log both need, and differ only in what they do with."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Called with the response's status and the request's seconds.
Report = Callable[[int, float], None]


async def timed(app: ASGIApp, scope: Scope, receive: Receive, send: Send, report: Report) -> None:
    """Run `app`, then `report` an HTTP request's status and duration, even when `app`
    raises: 500 then, unless a response had begun. Other scopes pass straight through."""
    if scope["type"] != "http":
        await app(scope, receive, send)
        return
    started = time.perf_counter()
    status = 500

    async def send_and_record(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await app(scope, receive, send_and_record)
    finally:
        report(status, time.perf_counter() - started)
