"""Console pages: sign in, set a new password, dashboard, session page, sign out.

Access control and CSRF are not checked here: :mod:`tasuke.server.security.middleware` has done
it for every request before a route runs. Routes only read who is signed in.
"""

import secrets
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from tasuke.server.admin.rights import action, opened_session
from tasuke.server.db.store import SessionRow, SignedIn, session_status
from tasuke.server.security.passwords import check_new_password, hash_password, verify_password
from tasuke.server.state import server_state
from tasuke.server.web.cookies import (
    clear_cookie,
    set_login_csrf_cookie,
    set_session_cookie,
)
from tasuke.server.web.signin_flow import (
    check_reauth,
    record_event,
    record_throttled,
    start_signin,
    wait_message,
)

__all__ = ["format_number", "listed_operator", "router", "signed_in", "templates"]

router = APIRouter(include_in_schema=False)


def _context(request: Request) -> dict[str, Any]:
    state = server_state(request)
    who: SignedIn | None = getattr(request.state, "signed_in", None)
    return {
        "operator": who.operator if who else None,
        "csrf_token": who.csrf_token if who else getattr(request.state, "login_csrf", ""),
        "organisation": state.settings.organisation,
        # Sign-in helper: the failed-attempts notice of a full sign-in, and its stage.
        "signin_notice": who.failures_notice if who and who.stage == "full" else 0,
        "signin_stage": who.stage if who else "",
    }


templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent.parent / "templates"),
        autoescape=True,  # agent-supplied strings are hostile: every template escapes
        undefined=jinja2.StrictUndefined,
    ),
    context_processors=[_context],
)


def signed_in(request: Request) -> SignedIn:
    """The signed-in operator (the middleware guarantees one on non-public routes)."""
    who: SignedIn | None = getattr(request.state, "signed_in", None)
    if who is None:
        raise HTTPException(status_code=401, detail="sign in first")
    return who


def listed_operator(request: Request) -> int | None:
    """Whose sessions lists show: the operator's own, or everyone's (``None``) for an admin."""
    operator = signed_in(request).operator
    return None if operator.is_admin else int(operator.id)


def format_number(number: str) -> str:
    """Show a session number 3-3-3: ``123 456 789``."""
    return f"{number[0:3]} {number[3:6]} {number[6:9]}"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(value: str | None) -> str:
    # Only same-site paths: "//host" and "/\host" would leave the site.
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def _login_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    state = server_state(request)
    token = request.cookies.get(state.settings.login_csrf_cookie)
    if not token or len(token) != 64:
        token = secrets.token_hex(32)
    request.state.login_csrf = token
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"error": error, "next": _safe_next(request.query_params.get("next"))},
        status_code=status,
    )
    set_login_csrf_cookie(response, state.settings, token)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The sign-in page (or the dashboard, if already signed in)."""
    who: SignedIn | None = getattr(request.state, "signed_in", None)
    if who is not None and who.stage == "full":
        return RedirectResponse("/", status_code=303)
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the password; on success continue with the stage the operator needs.

    The throttle is asked before the password is checked, and with the same keys whether
    or not the account exists, so an unknown user and a wrong password get the same answer.
    """
    state = server_state(request)
    form = await request.form()
    username = str(form.get("username", "")).strip().lower()[:100]
    password = str(form.get("password", ""))
    now = state.clock()
    address = _client(request)
    operator = await state.store.operator_by_username(username) if username else None
    known = operator is not None
    # The attempt is taken before the password is checked (an await): guesses sent at once
    # count against the free allowance while they are in flight.
    with state.login_throttle.attempt(username, known, address, now) as attempt:
        if attempt.wait > 0:
            await record_throttled(state, request, username[:64] or None, operator)
            return _login_page(request, 429, wait_message(attempt.wait))
        ok = await verify_password(operator.password_hash if operator else None, password)
        if operator is None or not ok:
            attempt.failed()
        else:
            attempt.done()
    if operator is None or not ok:
        if operator is not None:
            await state.signin.record_failure(operator.id)
        # Who tried is unknown (actor None); the account they tried is the subject.
        await record_event(state, request, "signin.failed", None, subject=username[:64] or None)
        message = "Wrong user name or password. / ユーザー名またはパスワードが違います。"
        return _login_page(request, 401, message)
    return await start_signin(request, operator, _safe_next(str(form.get("next", "/"))))


def _password_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    return templates.TemplateResponse(
        request,
        "password.html",
        {"error": error, "one_time": signed_in(request).operator.password_is_one_time},
        status_code=status,
    )


@router.get("/password")
@action("console")
async def password_form(request: Request) -> Response:
    """The set-new-password page (forced after a one-time password)."""
    return _password_page(request)


@router.post("/password")
@action("console")
async def change_password(request: Request) -> Response:
    """Store the operator's new password and replace every sign-in session with a fresh one."""
    state = server_state(request)
    who = signed_in(request)
    form = await request.form()
    password = str(form.get("password", ""))
    error = check_new_password(password, str(form.get("password2", "")))
    if error is None and not who.operator.password_is_one_time:
        current = str(form.get("current_password", ""))
        error = await check_reauth(request, state, who.operator, current)
    if error is None and await verify_password(who.operator.password_hash, password):
        error = (
            "Choose a password different from the old one. / 以前と異なるパスワードにしてください。"
        )
    if error is not None:
        return _password_page(request, 400, error)
    await state.store.set_password(who.operator.id, await hash_password(password))
    await state.store.delete_logins(who.operator.id)
    await record_event(
        state,
        request,
        "operator.password_changed",
        who.operator,
        details={"was_one_time": who.operator.password_is_one_time},
    )
    # A new cookie for the new privilege; a sign-in still owing its second-factor enrolment
    # keeps owing it.
    token, _ = await state.store.create_login(who.operator.id, _client(request), stage=who.stage)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, state.settings, token)
    return response


@router.post("/logout")
@action("console")
async def logout(request: Request) -> Response:
    """Sign out this browser."""
    state = server_state(request)
    await state.store.delete_logins(hashed=signed_in(request).token_hash)
    await record_event(state, request, "signin.signed_out", signed_in(request).operator)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, state.settings, state.settings.session_cookie)
    return response


@router.get("/")
@action("console")
async def dashboard(request: Request) -> Response:
    """The session list and the New support session button."""
    state = server_state(request)
    now = state.store.now()
    rows = [
        {
            "row": row,
            "status": session_status(row.session, now),
            "number_display": format_number(row.session.number),
        }
        for row in await state.store.list_sessions(listed_operator(request))
    ]
    return templates.TemplateResponse(request, "dashboard.html", {"rows": rows})


@router.post("/sessions")
@action("session.create")
async def new_session(request: Request) -> Response:
    """Create a support session and open its page."""
    state = server_state(request)
    row = await state.store.create_session(
        signed_in(request).operator.id, address=request.client.host if request.client else None
    )
    return RedirectResponse(f"/sessions/{row.id}", status_code=303)


@router.get("/sessions/{session_id}")
@action("session.open")
async def session_page(request: Request, session_id: str) -> Response:
    """The live session page (the rights check loaded it: own session or admin, else 404)."""
    state = server_state(request)
    found: SessionRow = opened_session(request)
    session = found.session
    context = {
        "session": {
            "id": session.id,
            "number": session.number,
            "number_display": format_number(session.number),
            "status": session_status(session, state.store.now()),
            "expires_at": session.expires_at.isoformat(),
            "operator": found.operator.display_name,
        },
        "server_url": state.settings.url,
    }
    return templates.TemplateResponse(request, "session.html", context)
