"""Limits the app enforces on every client: request bodies bounded by the bytes actually read,
and misclassification reports rate-limited per client (a token bucket per address)."""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

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


def client_key(host: str | None) -> str:
    """Whose bucket a request draws on: its IPv4 address, or its IPv6 /64 network (one host
    holds a whole /64, so single IPv6 addresses would be free for the taking)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class TokenBuckets:
    """A token bucket per client: up to `burst` at once, then one every 60 / `per_minute`
    seconds. The least recently seen clients are forgotten beyond `max_clients` (a forgotten
    client starts full again), so memory stays bounded whatever the number of clients."""

    def __init__(
        self,
        burst: int,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError(
                f"a report burst of {burst} and {per_minute} reports a minute allow nothing: "
                "give at least 1 and a rate above 0"
            )
        self.burst, self.rate, self.clock = burst, per_minute / 60.0, clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take a token of `client`'s bucket: 0.0 when there was one, else the seconds until
        there is (nothing taken)."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait
