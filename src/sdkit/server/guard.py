"""The ASGI middleware in front of every route: basic auth (when `--api-auth` is set) and the body limit.

A body is read up to the limit before any route sees it: a larger `Content-Length` is refused at
once, and a chunked body that grows past the limit is refused as soon as it does, so no route ever
holds more than the limit in memory.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sdkit.server.auth import is_authorised

log = logging.getLogger(__name__)


def error_body(error: str, detail: str, hint: str | None = None) -> dict[str, Any]:
    """A1111's error shape (modules/api/api.py: error, detail, body, errors), plus sdkit's hint."""
    body: dict[str, Any] = {"error": error, "detail": detail, "body": "", "errors": detail}
    if hint:
        body["hint"] = hint
    return body


async def _send_json(send: Any, status: int, content: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": payload})


class Guard:
    """Auth and body size for every HTTP request of the app (the mounted web UI included)."""

    def __init__(self, app: Any, credentials: tuple[tuple[str, str], ...], max_body_bytes: int) -> None:
        self.app = app
        self.credentials = credentials
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        if self.credentials and not is_authorised(headers.get("authorization"), self.credentials):
            client = scope.get("client") or ("?", 0)
            log.warning("refused a request to %s from %s: no valid credentials", scope.get("path"), client[0])
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _send_json(send, 401, error_body("Unauthorized", "this server needs a user name and password",
                                                   "send HTTP basic auth with one of the --api-auth pairs"),
                             [(b"www-authenticate", b'Basic realm="sdkit"')])
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _too_large(self, receive: Any, send: Any) -> None:
        limit_mb = self.max_body_bytes / (1024 * 1024)
        await _send_json(send, 413, error_body("PayloadTooLarge", f"the request body is larger than {limit_mb:g} MB",
                                               "send smaller images, or start the server with a larger --max-body-mb"),
                         [(b"connection", b"close")])
