"""The operator's own sign-in security: second factors, recovery codes, trusted browsers.

Removing a second factor or making new recovery codes asks for the password again, so a
browser left signed in is not enough to weaken the account. While an admin requires a second
factor, the last one cannot be removed, and a sign-in without one is kept on the enrolment
pages (``/account/enrol``) until it has one; finishing enrolment then issues a new cookie.
"""

import json

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tasuke import limits
from tasuke.errors import Refused
from tasuke.server.admin.rights import action
from tasuke.server.db.store import SignedIn, token_hash
from tasuke.server.security import totp, webauthn_rp
from tasuke.server.state import ServerState, server_state
from tasuke.server.web.cookies import clear_cookie, set_session_cookie
from tasuke.server.web.pages import signed_in, templates
from tasuke.server.web.signin_flow import (
    check_reauth,
    client_address,
    record_event,
    second_factor_required,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


async def _security_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    state = server_state(request)
    who = signed_in(request)
    totp_row = await state.signin.totp(who.operator.id)
    context = {
        "error": error,
        "totp_on": totp_row is not None and totp_row.confirmed_at is not None,
        "recovery_left": await state.signin.recovery_codes_left(who.operator.id),
        "keys": await state.signin.webauthn_credentials(who.operator.id),
        "trusted": await state.signin.trusted_browsers(who.operator.id),
        "logins": await state.signin.login_count(who.operator.id),
        "required": await second_factor_required(state),
        "remember_days": limits.TRUSTED_BROWSER_DAYS,
    }
    return templates.TemplateResponse(request, "account_security.html", context, status_code=status)


@router.get("/account/security")
@action("console")
async def security_page(request: Request) -> Response:
    """Second factors, recovery codes, trusted browsers and sign out everywhere."""
    return await _security_page(request)


@router.get("/account/enrol")
@action("console")
async def enrol_page(request: Request) -> Response:
    """Where a sign-in lands when an admin requires a second factor it does not have yet."""
    if signed_in(request).stage != "enrol":
        return RedirectResponse("/account/security", status_code=303)
    return templates.TemplateResponse(request, "account_enrol.html", {})


async def _rotate_if_enrolling(request: Request) -> str | None:
    """An enrolling sign-in just got its second factor: replace it with a full one.

    Returns the new cookie token (the caller sets it), or None if nothing changed. The request
    then carries the new sign-in, so a page rendered afterwards holds the new CSRF token.
    """
    state = server_state(request)
    who = signed_in(request)
    if who.stage != "enrol":
        return None
    address = client_address(request)
    # The same bookkeeping as any completed sign-in: the failures notice and the account's
    # throttle count (the password was right and the operator now has a second factor).
    failures, _ = await state.signin.signed_in(who.operator.id, address)
    state.login_throttle.succeeded(who.operator.username)
    await state.store.delete_logins(hashed=who.token_hash)
    token, csrf = await state.store.create_login(who.operator.id, address, failures_notice=failures)
    request.state.signed_in = SignedIn(
        who.operator, csrf, token_hash(token), failures_notice=failures
    )
    await record_event(
        state,
        request,
        "signin.ok",
        who.operator,
        details={"method": "enrolled", "failures": failures},
    )
    return token


# --- TOTP ------------------------------------------------------------------------------------


@router.get("/account/totp")
@action("console")
async def totp_page(request: Request) -> Response:
    """TOTP enrolment: the QR code, the secret as text, and a field to confirm a code.

    Viewing the page starts an enrolment if none is under way and otherwise shows the same
    secret again; only ``POST /account/totp/restart`` makes a new one.
    """
    state = server_state(request)
    who = signed_in(request)
    row = await state.signin.totp(who.operator.id)
    if row is not None and row.confirmed_at is not None:
        return RedirectResponse("/account/security", status_code=303)
    secret = await state.signin.start_totp(who.operator.id)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    response = templates.TemplateResponse(
        request, "account_totp.html", {"secret": grouped, "error": None}
    )
    response.headers["Cache-Control"] = "no-store"  # the page shows the secret
    return response


@router.post("/account/totp/restart")
@action("console")
async def totp_restart(request: Request) -> Response:
    """Replace an unfinished TOTP enrolment's secret with a new one (a new QR code)."""
    state = server_state(request)
    await state.signin.start_totp(signed_in(request).operator.id, restart=True)
    return RedirectResponse("/account/totp", status_code=303)


@router.get("/account/totp/qr.svg")
@action("console")
async def totp_qr(request: Request) -> Response:
    """The enrolment QR code (an ``otpauth://`` URI) as an SVG image; never cached."""
    state = server_state(request)
    who = signed_in(request)
    row = await state.signin.totp(who.operator.id)
    if row is None or row.confirmed_at is not None:
        raise HTTPException(status_code=404, detail="no TOTP enrolment in progress")
    uri = totp.provisioning_uri(row.secret, who.operator.username, state.settings.organisation)
    return Response(
        totp.qr_svg(uri), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


def _codes_page(request: Request, codes: list[str]) -> Response:
    response = templates.TemplateResponse(request, "recovery_codes.html", {"codes": codes})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/account/totp/confirm")
@action("console")
async def totp_confirm(request: Request) -> Response:
    """Turn TOTP on once the app's code matches; show the recovery codes (once)."""
    state = server_state(request)
    who = signed_in(request)
    form = await request.form()
    codes = await state.signin.confirm_totp(who.operator.id, str(form.get("code", "")))
    if codes is None:
        row = await state.signin.totp(who.operator.id)
        secret = row.secret if row is not None else ""
        grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        error = "That code is not right. / コードが正しくありません。"
        return templates.TemplateResponse(
            request, "account_totp.html", {"secret": grouped, "error": error}, status_code=400
        )
    await record_event(state, request, "second_factor.totp_enabled", who.operator)
    token = await _rotate_if_enrolling(request)
    page = _codes_page(request, codes)
    if token is not None:
        set_session_cookie(page, state.settings, token)
    return page


async def _password_ok(request: Request, state: ServerState, who: SignedIn) -> str | None:
    """Check the re-entered password; an error message, or None if it is right."""
    form = await request.form()
    return await check_reauth(request, state, who.operator, str(form.get("password", "")))


async def _may_remove(state: ServerState, who: SignedIn, *, totp_too: bool, keys: int) -> bool:
    """Whether removing leaves the operator a second factor, or none is required."""
    if not await second_factor_required(state):
        return True
    row = await state.signin.totp(who.operator.id)
    totp_left = row is not None and row.confirmed_at is not None and not totp_too
    remaining = len(await state.signin.webauthn_credentials(who.operator.id)) - keys
    return totp_left or remaining > 0


_LAST_FACTOR = (
    "A second factor is required: add another one before removing this. / "
    "2段階認証が必須です。削除する前に別の認証方法を追加してください。"
)


@router.post("/account/totp/remove")
@action("console")
async def totp_remove(request: Request) -> Response:
    """Turn TOTP off (and delete the recovery codes); needs the password."""
    state = server_state(request)
    who = signed_in(request)
    error = await _password_ok(request, state, who)
    if error is None and not await _may_remove(state, who, totp_too=True, keys=0):
        error = _LAST_FACTOR
    if error is not None:
        return await _security_page(request, 400, error)
    await state.signin.remove_totp(who.operator.id)
    await record_event(state, request, "second_factor.totp_removed", who.operator)
    return RedirectResponse("/account/security", status_code=303)


@router.post("/account/recovery-codes")
@action("console")
async def recovery_codes(request: Request) -> Response:
    """Replace the recovery codes and show the new ones once; needs the password."""
    state = server_state(request)
    who = signed_in(request)
    row = await state.signin.totp(who.operator.id)
    error = await _password_ok(request, state, who)
    if error is None and (row is None or row.confirmed_at is None):
        error = "Turn on the authenticator app first. / 先に認証アプリを設定してください。"
    if error is not None:
        return await _security_page(request, 400, error)
    codes = await state.signin.new_recovery_codes(who.operator.id)
    await record_event(state, request, "second_factor.recovery_codes_renewed", who.operator)
    return _codes_page(request, codes)


# --- WebAuthn --------------------------------------------------------------------------------


@router.post("/account/webauthn/options")
@action("console")
async def webauthn_options(request: Request) -> Response:
    """Start registering a security key or passkey: a fresh challenge for this sign-in."""
    state = server_state(request)
    who = signed_in(request)
    existing = [k.credential_id for k in await state.signin.webauthn_credentials(who.operator.id)]
    if len(existing) >= limits.MAX_WEBAUTHN_CREDENTIALS:
        return JSONResponse({"detail": "too many security keys registered"}, status_code=409)
    challenge = state.webauthn_challenges.new(who.token_hash, "register")
    options = webauthn_rp.registration_options(
        state.settings,
        user_id=who.operator.id.to_bytes(8, "big"),
        user_name=who.operator.username,
        display_name=who.operator.display_name,
        challenge=challenge,
        existing=existing,
    )
    return Response(options, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.post("/account/webauthn/register")
@action("console")
async def webauthn_register(request: Request) -> Response:
    """Check the new credential's attestation and store its public key (JSON answer)."""
    state = server_state(request)
    who = signed_in(request)
    body = await request.body()
    try:
        payload = json.loads(body) if len(body) <= limits.MAX_WEBAUTHN_RESPONSE else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("credential"), dict):
        return JSONResponse({"detail": "malformed request"}, status_code=400)
    label = str(payload.get("label", "")).strip()[: limits.MAX_DEVICE_LABEL] or "Security key"
    try:
        challenge = state.webauthn_challenges.take(who.token_hash, "register")
        new = webauthn_rp.verify_registration(
            state.settings, json.dumps(payload["credential"]), challenge
        )
    except Refused as exc:
        return JSONResponse({"detail": exc.reason}, status_code=400)
    added = await state.signin.add_webauthn(
        who.operator.id, new.credential_id, new.public_key, new.sign_count, label
    )
    if not added:
        return JSONResponse({"detail": "this key is registered already"}, status_code=409)
    await record_event(
        state, request, "second_factor.webauthn_added", who.operator, details={"label": label}
    )
    target = "/" if who.stage == "enrol" else "/account/security"
    response = JSONResponse({"next": target}, headers={"Cache-Control": "no-store"})
    token = await _rotate_if_enrolling(request)
    if token is not None:
        set_session_cookie(response, state.settings, token)
    return response


@router.post("/account/webauthn/{key_id}/remove")
@action("console")
async def webauthn_remove(request: Request, key_id: int) -> Response:
    """Remove one of the operator's security keys; needs the password."""
    state = server_state(request)
    who = signed_in(request)
    error = await _password_ok(request, state, who)
    if error is None and not await _may_remove(state, who, totp_too=False, keys=1):
        error = _LAST_FACTOR
    if error is not None:
        return await _security_page(request, 400, error)
    if not await state.signin.remove_webauthn(who.operator.id, key_id):
        raise HTTPException(status_code=404, detail="no such security key")
    await record_event(
        state, request, "second_factor.webauthn_removed", who.operator, details={"id": key_id}
    )
    return RedirectResponse("/account/security", status_code=303)


# --- trusted browsers, sessions, notices -----------------------------------------------------


@router.post("/account/trusted/{row_id}/revoke")
@action("console")
async def revoke_trusted(request: Request, row_id: int) -> Response:
    """Stop trusting one of the operator's browsers: it needs the second factor again."""
    state = server_state(request)
    who = signed_in(request)
    if not await state.signin.revoke_trusted(row_id, who.operator.id):
        raise HTTPException(status_code=404, detail="no such trusted browser")
    await record_event(
        state, request, "signin.browser_untrusted", who.operator, details={"id": row_id}
    )
    return RedirectResponse("/account/security", status_code=303)


@router.post("/account/sign-out-everywhere")
@action("console")
async def sign_out_everywhere(request: Request) -> Response:
    """End every sign-in session of this operator, this one included."""
    state = server_state(request)
    who = signed_in(request)
    await state.store.delete_logins(who.operator.id)
    await record_event(state, request, "signin.signed_out_everywhere", who.operator)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, state.settings, state.settings.session_cookie)
    return response


@router.post("/account/notice/dismiss")
@action("console")
async def dismiss_notice(request: Request) -> Response:
    """Hide the "failed sign-in attempts" notice for this sign-in session."""
    state = server_state(request)
    await state.signin.dismiss_notice(signed_in(request).token_hash)
    return RedirectResponse("/", status_code=303)
