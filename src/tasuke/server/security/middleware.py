"""Deny-by-default access control, CSRF and security headers, as ASGI middleware.

Every request passes :class:`AccessMiddleware` before any route sees it, so a new route is
private unless someone adds it to :data:`PUBLIC_PATHS` or :data:`TICKET_PATHS` on purpose.
"""

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import cookie_parser

from tasuke import limits
from tasuke.server.admin import netlists
from tasuke.server.settings import Settings

__all__ = [
    "ENROL_PATHS",
    "PUBLIC_PATHS",
    "PUBLIC_PREFIXES",
    "SECOND_FACTOR_PATHS",
    "TICKET_PATHS",
    "AccessMiddleware",
    "SecurityHeadersMiddleware",
    "access_class",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/login", "/healthz", "/ws/agent"})
"""Paths anyone may use: the sign-in page, the health check, the agent's leg (it proves itself
by the session number it joins with)."""
PUBLIC_PREFIXES = ("/static/",)
TICKET_PATHS = frozenset({"/ws/console"})
"""Paths that authenticate with a single-use ticket minted by a signed-in request."""
PASSWORD_CHANGE_PATHS = frozenset({"/password", "/logout"})
"""All an operator with a one-time password may reach until they chose their own."""
SECOND_FACTOR_PATHS = frozenset(
    {
        "/login/second-factor",
        "/login/totp",
        "/login/recovery",
        "/login/webauthn/options",
        "/login/webauthn/verify",
        "/logout",
    }
)
"""All a half-signed-in session (password accepted, second factor pending) may reach."""
ENROL_PATHS = PASSWORD_CHANGE_PATHS | frozenset(
    {
        "/account/enrol",
        "/account/totp",
        "/account/totp/qr.svg",
        "/account/totp/confirm",
        "/account/totp/restart",
        "/account/webauthn/options",
        "/account/webauthn/register",
    }
)
"""All a sign-in may reach while an admin requires a second factor that it has not set up."""
STAGE_RULES = {
    "second_factor": (SECOND_FACTOR_PATHS, "/login/second-factor", "second factor required"),
    "enrol": (ENROL_PATHS, "/account/enrol", "set up a second factor first"),
}
"""Half-done sign-in stages: the paths each may reach, where pages send it, the refusal."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("tasuke.server")


def access_class(path: str) -> str:
    """``public``, ``ticket`` or ``operator`` (the default for anything not listed)."""
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return "public"
    if path in TICKET_PATHS:
        return "ticket"
    return "operator"


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await _respond(send, status, body, [(b"content-type", b"application/json")])


async def _redirect(send: Send, location: str) -> None:
    await _respond(send, 303, b"", [(b"location", location.encode("latin-1"))])


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limits.MAX_FORM_BODY:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class _TooManyFields(Exception):
    pass


def _form_token(headers: dict[str, str], body: bytes) -> str | None:
    if headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=limits.MAX_FORM_FIELDS)
    except ValueError as exc:  # parse_qs's only complaint with these arguments: too many fields
        raise _TooManyFields from exc
    values = fields.get("csrf_token")
    return values[0] if values else None


class AccessMiddleware:
    """Resolves the sign-in cookie, enforces the access class of the path and checks CSRF."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        from tasuke.server.state import ServerState  # runtime import: state imports ws modules

        state: ServerState = scope["app"].state.tasuke
        path: str = scope["path"]
        kind = access_class(path)
        if kind != "public" or path == "/login":
            # The operator allow list guards the whole console, sign-in page included; only
            # what customers need (agent leg, static files, health) stays reachable.
            client = scope.get("client")
            address = client[0] if client else None
            if not await netlists.operator_allowed(state.store, address):
                await netlists.note_refusal(
                    state.store,
                    state.blocked_noted,
                    "console.refused_network",
                    address,
                    state.clock(),
                )
                await self._deny(scope, send, 403, "the console is not reachable from your network")
                return
        headers = _headers(scope)
        cookies = cookie_parser(headers.get("cookie", ""))
        signed_in = None
        token = cookies.get(self.settings.session_cookie)
        if token:
            signed_in = await state.store.lookup_login(token)
        scope.setdefault("state", {})["signed_in"] = signed_in
        if kind == "operator" and signed_in is None:
            await self._deny_anonymous(scope, receive, send, path)
            return
        if kind == "operator" and signed_in is not None and signed_in.stage != "full":
            # Enforced here, for every path, rather than per route: a half-signed-in session
            # reaches its few pages and nothing else, not even a WebSocket ticket. Unknown
            # stages fall through to an empty rule: deny.
            allowed, page, detail = STAGE_RULES.get(signed_in.stage, (frozenset(), "/login", ""))
            if path not in allowed:
                if scope["type"] == "http" and scope["method"] == "GET" and not _is_api(path):
                    await _redirect(send, page)
                else:
                    await self._deny(scope, send, 403, detail or "sign in first")
                return
        if (
            kind == "operator"
            and signed_in is not None
            and signed_in.operator.password_is_one_time
            and path not in PASSWORD_CHANGE_PATHS
        ):
            if scope["type"] == "websocket" or path.startswith("/api/"):
                await self._deny(scope, send, 403, "password change required")
            else:
                await _redirect(send, "/password")
            return
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            try:
                body = await _read_body(receive)
            except _TooLarge:
                await _json(send, 413, "request body too large")
                return
            expected = (
                signed_in.csrf_token
                if signed_in is not None
                else cookies.get(self.settings.login_csrf_cookie)
            )
            try:
                given = headers.get("x-csrf-token") or _form_token(headers, body)
            except _TooManyFields:
                await _json(send, 400, f"too many form fields (at most {limits.MAX_FORM_FIELDS})")
                return
            if not expected or not given or not hmac.compare_digest(expected, given):
                await _json(send, 403, "CSRF token missing or wrong")
                return
            receive = _replay(body)
        await self.app(scope, receive, send)

    async def _deny_anonymous(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not path.startswith("/api/"):
            await _redirect(send, "/login?next=" + quote(path, safe="/"))
        else:
            await self._deny(scope, send, 401, "sign in first")

    async def _deny(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": detail})
        else:
            await _json(send, status, detail)


class SecurityHeadersMiddleware:
    """Adds CSP, nosniff, no-referrer, frame denial and (over TLS) HSTS to every response."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: blob:; "
            f"connect-src 'self' {settings.ws_origin}; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
        extra = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if settings.secure:
            extra.append((b"strict-transport-security", b"max-age=31536000"))
        self.extra = extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + self.extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's own 500 page is produced outside every user middleware, so it would
            # go out without these headers: answer here instead, and log what went wrong.
            log.exception("unhandled error serving %s", scope.get("path"))
            if started:
                raise
            await _json(send_with_headers, 500, "internal server error")
