"""The second step of signing in: a TOTP code, a recovery code, or a security key.

Only a half-signed-in session reaches these routes (the access middleware sends everyone else
elsewhere, and keeps half-signed-in sessions here). Each failure counts against the account and
the source network in the same throttle as passwords, so the six digits cannot be guessed at
speed, and a right password does not reset that count.
"""

import json

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tasuke import limits
from tasuke.errors import Refused
from tasuke.server.admin.rights import action
from tasuke.server.db.signin_models import WebAuthnCredential
from tasuke.server.db.store import SignedIn
from tasuke.server.security import webauthn_rp
from tasuke.server.security.throttle import Attempt
from tasuke.server.state import ServerState, server_state
from tasuke.server.web.pages import signed_in, templates
from tasuke.server.web.signin_flow import (
    client_address,
    complete_signin,
    record_event,
    record_throttled,
    safe_next,
    wait_message,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_WRONG_CODE = "That code is not right. / コードが正しくありません。"


class _Done(Exception):
    """The sign-in is not waiting for a second factor (it is full already)."""


def _pending(request: Request) -> SignedIn:
    who = signed_in(request)
    if who.stage != "second_factor":
        # Reached only by a full sign-in that opened this URL by hand: nothing to do here.
        raise _Done
    return who


def _attempt(state: ServerState, who: SignedIn, request: Request) -> Attempt:
    # Taken before the code is checked (an await), so codes sent at once cannot all be tried.
    return state.login_throttle.attempt(
        who.operator.username, True, client_address(request), state.clock()
    )


async def _throttled(state: ServerState, who: SignedIn, request: Request) -> None:
    await record_throttled(state, request, who.operator.username, who.operator)


async def _failed(state: ServerState, who: SignedIn, request: Request, method: str) -> None:
    await state.signin.record_failure(who.operator.id)
    await record_event(
        state,
        request,
        "signin.second_factor_failed",
        None,  # whoever knows the password, not necessarily the operator
        subject=who.operator.username,
        details={"method": method},
    )


async def _page(request: Request, status: int = 200, error: str | None = None) -> Response:
    state = server_state(request)
    who = signed_in(request)
    totp_row = await state.signin.totp(who.operator.id)
    keys = await state.signin.webauthn_credentials(who.operator.id)
    return templates.TemplateResponse(
        request,
        "second_factor.html",
        {
            "error": error,
            "next": safe_next(request.query_params.get("next")),
            "has_totp": totp_row is not None and totp_row.confirmed_at is not None,
            "has_keys": bool(keys),
            "remember_days": limits.TRUSTED_BROWSER_DAYS,
        },
        status_code=status,
    )


@router.get("/login/second-factor")
@action("console")
async def second_factor_form(request: Request) -> Response:
    """Ask for the second factor (code field, recovery code field, security key button)."""
    if signed_in(request).stage != "second_factor":
        return RedirectResponse("/", status_code=303)
    return await _page(request)


async def _code_step(request: Request, method: str) -> Response:
    state = server_state(request)
    try:
        who = _pending(request)
    except _Done:
        return RedirectResponse("/", status_code=303)
    form = await request.form()
    next_path = safe_next(str(form.get("next", "/")))
    code = str(form.get("code", ""))[: limits.MAX_SECOND_FACTOR_INPUT]
    with _attempt(state, who, request) as attempt:
        if attempt.wait > 0:
            await _throttled(state, who, request)
            return await _page(request, 429, wait_message(attempt.wait))
        if method == "totp":
            ok = await state.signin.check_totp(who.operator.id, code)
        else:
            ok = await state.signin.use_recovery_code(who.operator.id, code)
        if not ok:
            attempt.failed()
    if not ok:
        await _failed(state, who, request, method)
        return await _page(request, 401, _WRONG_CODE)
    if method == "recovery":
        left = await state.signin.recovery_codes_left(who.operator.id)
        await record_event(
            state, request, "signin.recovery_code_used", who.operator, details={"left": left}
        )
    return await complete_signin(
        request, who.operator, who, next_path, method=method, remember=form.get("remember") == "1"
    )


@router.post("/login/totp")
@action("console")
async def totp_step(request: Request) -> Response:
    """Finish signing in with a code from the authenticator app (each code works once)."""
    return await _code_step(request, "totp")


@router.post("/login/recovery")
@action("console")
async def recovery_step(request: Request) -> Response:
    """Finish signing in with a recovery code (each works once)."""
    return await _code_step(request, "recovery")


@router.post("/login/webauthn/options")
@action("console")
async def webauthn_options(request: Request) -> Response:
    """Start the security key ceremony: a fresh challenge for this half-done sign-in."""
    state = server_state(request)
    try:
        who = _pending(request)
    except _Done:
        return JSONResponse({"detail": "already signed in"}, status_code=409)
    keys = await state.signin.webauthn_credentials(who.operator.id)
    if not keys:
        return JSONResponse({"detail": "no security key registered"}, status_code=404)
    challenge = state.webauthn_challenges.new(who.token_hash, "signin")
    options = webauthn_rp.authentication_options(
        state.settings, challenge, [k.credential_id for k in keys]
    )
    return Response(options, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.post("/login/webauthn/verify")
@action("console")
async def webauthn_verify(request: Request) -> Response:
    """Check the security key's signature; on success the sign-in becomes full (JSON answer)."""
    state = server_state(request)
    try:
        who = _pending(request)
    except _Done:
        return JSONResponse({"detail": "already signed in"}, status_code=409)
    body = await request.body()
    try:
        payload = json.loads(body) if len(body) <= limits.MAX_WEBAUTHN_RESPONSE else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("credential"), dict):
        return JSONResponse({"detail": "malformed request"}, status_code=400)
    credential = json.dumps(payload["credential"])
    with _attempt(state, who, request) as attempt:
        if attempt.wait > 0:
            await _throttled(state, who, request)
            return JSONResponse({"detail": wait_message(attempt.wait)}, status_code=429)
        refused: str | None = None
        try:
            key, count = await _check_key(state, who, credential)
        except Refused as exc:
            attempt.failed()
            refused = exc.reason
    if refused is not None:
        await _failed(state, who, request, "webauthn")
        return JSONResponse({"detail": refused}, status_code=401)
    await state.signin.webauthn_used(key.id, count)
    return await complete_signin(
        request,
        who.operator,
        who,
        safe_next(str(payload.get("next", "/"))),
        method="webauthn",
        remember=payload.get("remember") is True,
        respond_json=True,
    )


async def _check_key(
    state: ServerState, who: SignedIn, credential: str
) -> tuple[WebAuthnCredential, int]:
    """The registered key that signed ``credential``, and its new signature counter.

    Raises:
        Refused: unknown key, bad signature, stale challenge or counter.
    """
    challenge = state.webauthn_challenges.take(who.token_hash, "signin")
    used = webauthn_rp.credential_id_of(credential)
    keys = {k.credential_id: k for k in await state.signin.webauthn_credentials(who.operator.id)}
    key = keys.get(used)
    if key is None:
        raise Refused("this security key is not registered for you")
    count = webauthn_rp.verify_authentication(
        state.settings, credential, challenge, key.public_key, key.sign_count
    )
    return key, count
