"""What happens between "the password is right" and "signed in": the second-factor stages.

After the password, a sign-in is one of three stages (kept on the sign-in session row):

- ``second_factor``: the operator has TOTP or a security key, and this browser is not trusted;
  the session may only reach the second-factor pages (the access middleware enforces it).
- ``enrol``: an admin requires a second factor and the operator has none; the session may only
  reach the enrolment pages.
- ``full``: signed in.

Every move to ``full`` issues a new cookie (the half-done session's token dies), so a token
seen before the second factor is worth nothing after it.
"""

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tasuke.server.admin import audit
from tasuke.server.db.models import Operator
from tasuke.server.db.signin_store import REQUIRE_SECOND_FACTOR
from tasuke.server.db.store import SignedIn
from tasuke.server.security.passwords import verify_password
from tasuke.server.security.throttle import network_key
from tasuke.server.state import ServerState, server_state
from tasuke.server.web.cookies import (
    clear_cookie,
    set_session_cookie,
    set_trusted_cookie,
    trusted_cookie_name,
)

__all__ = [
    "check_reauth",
    "client_address",
    "complete_signin",
    "device_label",
    "record_event",
    "record_throttled",
    "safe_next",
    "second_factor_required",
    "start_signin",
    "wait_message",
]

_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def client_address(request: Request) -> str:
    """The browser's address as the ASGI server saw it (after trusted proxy headers)."""
    return request.client.host if request.client else "unknown"


def device_label(user_agent: str) -> str:
    """A short, recognisable label for a browser: ``Chrome on Linux``.

    Only fixed words come out, never text from the header, so the label cannot carry markup.
    """
    browser = next((name for key, name in _BROWSERS if key in user_agent), "Browser")
    if browser == "Chrome" and re.search(r"HeadlessChrome/", user_agent):
        browser = "Headless Chrome"
    system = next((name for key, name in _SYSTEMS if key in user_agent), "unknown system")
    return f"{browser} on {system}"


def safe_next(value: str | None) -> str:
    """``value`` if it is a path on this site, else ``/`` (no open redirect)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


async def record_event(
    state: ServerState,
    request: Request,
    event: str,
    operator: Operator | None,
    *,
    subject: str | None = None,
    details: dict[str, object] | None = None,
) -> None:
    """Append a sign-in event to the audit log (actor = the operator, if known)."""
    name = operator.username if operator is not None else None
    await audit.record(
        state.store,
        event,
        actor=name,
        subject=subject or name,
        address=client_address(request),
        details=dict(details or {}),
    )


def wait_message(wait: float) -> str:
    """The "try again in N seconds" answer of a throttled attempt (both languages)."""
    return (
        f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds. / "
        f"サインインの失敗が多すぎます。{int(wait) + 1}秒後にもう一度お試しください。"
    )


async def record_throttled(
    state: ServerState, request: Request, subject: str | None, operator: Operator | None
) -> None:
    """Note an attempt the throttle turned away: in the account's failure notice, and in the
    audit log (``signin.throttled``) at most once per source network per
    ``THROTTLED_AUDIT_INTERVAL``, so a flood of refused guesses cannot fill the log.
    """
    if operator is not None:
        await state.signin.record_failure(operator.id)
    address = client_address(request)
    key = f"signin.throttled:{network_key(address)}"
    now = state.clock()
    if state.throttled_noted.blocked(key, now):
        return
    state.throttled_noted.failed(key, now)
    await record_event(state, request, "signin.throttled", None, subject=subject)


async def check_reauth(
    request: Request, state: ServerState, operator: Operator, password: str
) -> str | None:
    """Check a password re-entered by a signed-in operator; an error message, or None.

    Counted in the same sign-in throttle as the sign-in page (the attempt is taken before the
    check, so parallel guesses cannot slip past), and a wrong one is written to the audit log
    (``signin.reauth_failed``) and the operator's failure notice: a stolen browser session
    guessing the password shows up like any other guess.
    """
    with state.login_throttle.attempt(
        operator.username, True, client_address(request), state.clock()
    ) as attempt:
        if attempt.wait > 0:
            await record_throttled(state, request, operator.username, operator)
            return wait_message(attempt.wait)
        if await verify_password(operator.password_hash, password):
            return None
        attempt.failed()
    await state.signin.record_failure(operator.id)
    await record_event(state, request, "signin.reauth_failed", operator)
    return "The password is wrong. / パスワードが違います。"


async def second_factor_required(state: ServerState) -> bool:
    """Whether an admin requires every operator to use a second factor."""
    return bool(await state.signin.setting(REQUIRE_SECOND_FACTOR, False))


async def start_signin(request: Request, operator: Operator, next_path: str) -> Response:
    """The password was right: start the sign-in at the stage this operator needs.

    A browser trusted by this operator skips the second factor; nothing else does.
    """
    state = server_state(request)
    address = client_address(request)
    earlier: SignedIn | None = getattr(request.state, "signed_in", None)
    if earlier is not None:
        # Signing in again from a browser that holds a (half-done) sign-in: that one ends.
        await state.store.delete_logins(hashed=earlier.token_hash)
    if await state.signin.has_second_factor(operator.id):
        trusted = request.cookies.get(trusted_cookie_name(state.settings))
        if trusted and await state.signin.is_trusted(operator.id, trusted):
            return await complete_signin(request, operator, None, next_path, method="trusted")
        token, _ = await state.store.create_login(operator.id, address, stage="second_factor")
        await record_event(state, request, "signin.password_ok", operator)
        target = "/login/second-factor"
        if next_path != "/":
            target += "?next=" + next_path
        response: Response = RedirectResponse(target, status_code=303)
    elif await second_factor_required(state):
        token, _ = await state.store.create_login(operator.id, address, stage="enrol")
        await record_event(state, request, "signin.enrol_required", operator)
        response = RedirectResponse("/account/enrol", status_code=303)
    else:
        return await complete_signin(request, operator, None, next_path, method="password")
    set_session_cookie(response, state.settings, token)
    clear_cookie(response, state.settings, state.settings.login_csrf_cookie)
    return response


async def complete_signin(
    request: Request,
    operator: Operator,
    previous: SignedIn | None,
    next_path: str,
    *,
    method: str,
    remember: bool = False,
    respond_json: bool = False,
) -> Response:
    """Make the sign-in full: a new cookie, the failure notice, and (if asked) trust.

    ``previous`` is the half-done sign-in session being replaced (deleted here).
    """
    state = server_state(request)
    address = client_address(request)
    failures, _ = await state.signin.signed_in(operator.id, address)
    state.login_throttle.succeeded(operator.username)
    if previous is not None:
        await state.store.delete_logins(hashed=previous.token_hash)
    token, _ = await state.store.create_login(operator.id, address, failures_notice=failures)
    target = "/password" if operator.password_is_one_time else next_path
    response: Response
    if respond_json:
        response = JSONResponse({"next": target}, headers={"Cache-Control": "no-store"})
    else:
        response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, state.settings, token)
    clear_cookie(response, state.settings, state.settings.login_csrf_cookie)
    if remember and method not in ("password", "trusted"):
        label = device_label(request.headers.get("user-agent", ""))
        trusted = await state.signin.trust_browser(operator.id, label, address)
        set_trusted_cookie(response, state.settings, trusted)
        await record_event(
            state, request, "signin.browser_trusted", operator, details={"label": label}
        )
    await record_event(
        state, request, "signin.ok", operator, details={"method": method, "failures": failures}
    )
    return response
