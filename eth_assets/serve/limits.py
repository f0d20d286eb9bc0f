"""Limits the app enforces on every client: request bodies bounded by the bytes actually read,
and misclassification reports rate-limited per client (a token bucket per address)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The longest piece of a client's input any answer repeats.
ECHO_CHARS = 80


def echoed(text: object) -> str:
    """`text` as an answer may repeat it: at most ECHO_CHARS characters."""
    shown = str(text)
    return shown if len(shown) <= ECHO_CHARS else shown[: ECHO_CHARS - 1] + "…"


class BodyTooLarge(Exception):
    """Raised from `receive` once a request's body is over its limit."""


class BodyLimit:
    """ASGI middleware: a request body over its path's limit (`limits`, else `default`; a
    multipart form may add `form_overhead` for its boundaries) gets a short JSON 413, whether it
    declares its length or comes in chunks; the bytes read are counted, so a chunked body is
    read no further than the limit and one chunk."""

    def __init__(
        self, app: ASGIApp, default: int, limits: Mapping[str, int], form_overhead: int = 0
    ) -> None:
        self.app, self.default, self.limits = app, default, dict(limits)
        self.form_overhead = form_overhead

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shown = self.limits.get(scope["path"], self.default)
        headers = dict(scope.get("headers") or [])
        form = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = shown + (self.form_overhead if form else 0)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self.refuse(shown, send)
            return
        read, over, started, replaced = 0, False, False, False

        async def counted() -> Message:
            nonlocal read, over
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    over = True
                    raise BodyTooLarge
            return message

        async def sending(message: Message) -> None:
            # Whatever the app made of the cut body (FastAPI answers 400 "error parsing the
            # body"), the client is told it was too large.
            nonlocal started, replaced
            if over:
                if not started and not replaced:
                    replaced = True
                    await self.refuse(shown, send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except Exception:
            if not over:
                raise
        if over and not started and not replaced:
            await self.refuse(shown, send)

    @staticmethod
    async def refuse(limit: int, send: Send) -> None:
        """A 413 naming the limit; the connection is closed (the rest of the body is unread)."""
        body = json.dumps({"error": f"the request body is over the limit of {limit:,} bytes"})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})
