"""Admin pages: operators and their rights, the network lists, the audit log and its export.

Every handler names its action (tasuke.server.admin.rights), all of which need the admin role.
Nothing here can create an admin or make an operator one, and admin accounts themselves are
read-only on the web: they change only through ``tasuke operator ...`` on the server, so a
stolen admin browser session cannot mint or keep more admin accounts.
"""

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from tasuke import limits
from tasuke.errors import ConfigError
from tasuke.server.admin import netlists, operators
from tasuke.server.admin.audit import export_csv, export_json
from tasuke.server.admin.rights import (
    FUTURE_MODES,
    MODE_LABELS,
    MODES,
    RIGHT_LABELS,
    RIGHTS,
    action,
    modes_of,
    rights_of,
)
from tasuke.server.db.models import Operator
from tasuke.server.state import server_state
from tasuke.server.web.pages import signed_in, templates

__all__ = ["AUDIT_PAGE_SIZE", "router"]

router = APIRouter(prefix="/admin", include_in_schema=False)
AUDIT_PAGE_SIZE = limits.AUDIT_PAGE_SIZE
_NO_STORE = {"Cache-Control": "no-store"}


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _actor(request: Request) -> str:
    return signed_in(request).operator.username


def _choices() -> dict[str, Any]:
    return {
        "rights_choices": [(name, RIGHT_LABELS[name]) for name in RIGHTS],
        "mode_choices": [(name, MODE_LABELS[name]) for name in MODES],
        "future_modes": [(name, MODE_LABELS[name]) for name in FUTURE_MODES],
    }


def _view(operator: Operator) -> dict[str, Any]:
    return {
        "username": operator.username,
        "display_name": operator.display_name,
        "is_admin": operator.is_admin,
        "disabled": operator.disabled_at is not None,
        "one_time": operator.password_is_one_time,
        "rights": sorted(rights_of(operator), key=RIGHTS.index),
        "stored_rights": [r for r in (operator.rights or "").split(",") if r in RIGHTS],
        "modes": sorted(modes_of(operator)),
        "stored_modes": [m for m in (operator.modes or "").split(",") if m in MODES],
    }


def _strings(form: FormData, name: str) -> list[str]:
    return [str(v) for v in form.getlist(name)][: len(RIGHTS) + len(MODES) + 4]


async def _operators_page(
    request: Request, status: int = 200, error: str | None = None
) -> Response:
    state = server_state(request)
    rows = [_view(op) for op in await state.store.list_operators()]
    context = {"operators": rows, "error": error, **_choices()}
    return templates.TemplateResponse(request, "admin_operators.html", context, status_code=status)


@router.get("")
@action("admin.operators")
async def admin_home(request: Request) -> Response:
    """The admin area starts at the operators list."""
    return RedirectResponse("/admin/operators", status_code=303)


@router.get("/operators")
@action("admin.operators")
async def operators_list(request: Request) -> Response:
    """Every operator with role, rights, modes and state, and the add-operator form."""
    return await _operators_page(request)


def _one_time_page(request: Request, username: str, password: str, created: bool) -> Response:
    context = {"username": username, "password": password, "created": created}
    return templates.TemplateResponse(request, "admin_password.html", context, headers=_NO_STORE)


@router.post("/operators")
@action("admin.operators")
async def operators_add(request: Request) -> Response:
    """Create an operator (never an admin) and show their one-time password once."""
    state = server_state(request)
    form = await request.form()
    username = str(form.get("username", "")).strip().lower()
    try:
        password = await operators.create_operator(
            state.store,
            username,
            display_name=str(form.get("display_name", "")).strip() or None,
            rights=operators.parse_rights(_strings(form, "rights")),
            modes=operators.parse_modes(_strings(form, "modes")),
            is_admin=False,  # whatever the form says: admins come only from the CLI
            actor=_actor(request),
            address=_client(request),
        )
    except ConfigError as exc:
        return await _operators_page(request, 400, str(exc))
    return _one_time_page(request, username, password, created=True)


async def _target(request: Request, username: str, *, changing: bool) -> Operator:
    state = server_state(request)
    operator = await state.store.operator_by_username(username, include_disabled=True)
    if operator is None:
        raise HTTPException(status_code=404, detail="no such operator")
    if changing and operator.is_admin:
        raise HTTPException(
            status_code=403,
            detail="admin accounts are changed only with `tasuke operator ...` on the server",
        )
    return operator


def _operator_page(
    request: Request, operator: Operator, status: int = 200, error: str | None = None
) -> Response:
    context = {"target": _view(operator), "error": error, **_choices()}
    return templates.TemplateResponse(request, "admin_operator.html", context, status_code=status)


@router.get("/operators/{username}")
@action("admin.operators")
async def operator_page(request: Request, username: str) -> Response:
    """One operator: edit rights and modes, disable or enable, reset the password."""
    return _operator_page(request, await _target(request, username, changing=False))


@router.post("/operators/{username}/rights")
@action("admin.operators")
async def operator_rights(request: Request, username: str) -> Response:
    """Replace an operator's rights and connection modes."""
    state = server_state(request)
    operator = await _target(request, username, changing=True)
    form = await request.form()
    try:
        await operators.set_rights(
            state.store,
            username,
            rights=operators.parse_rights(_strings(form, "rights")),
            modes=operators.parse_modes(_strings(form, "modes")),
            actor=_actor(request),
            address=_client(request),
        )
    except ConfigError as exc:
        return _operator_page(request, operator, 400, str(exc))
    return RedirectResponse(f"/admin/operators/{username}", status_code=303)


@router.post("/operators/{username}/disable")
@action("admin.operators")
async def operator_disable(request: Request, username: str) -> Response:
    """Disable an operator: signed out everywhere, cannot sign in."""
    state = server_state(request)
    operator = await _target(request, username, changing=True)
    try:
        await operators.disable_operator(
            state.store, username, actor=_actor(request), address=_client(request)
        )
    except ConfigError as exc:
        return _operator_page(request, operator, 409, str(exc))
    # This process holds the live sessions: end them now, both legs told and the end recorded.
    await state.registry.end_operator(operator.id, "the operator was disabled")
    return RedirectResponse(f"/admin/operators/{username}", status_code=303)


@router.post("/operators/{username}/enable")
@action("admin.operators")
async def operator_enable(request: Request, username: str) -> Response:
    """Enable a disabled operator again."""
    state = server_state(request)
    operator = await _target(request, username, changing=True)
    try:
        await operators.enable_operator(
            state.store, username, actor=_actor(request), address=_client(request)
        )
    except ConfigError as exc:
        return _operator_page(request, operator, 409, str(exc))
    return RedirectResponse(f"/admin/operators/{username}", status_code=303)


@router.post("/operators/{username}/reset-password")
@action("admin.operators")
async def operator_reset(request: Request, username: str) -> Response:
    """Give an operator a new one-time password and show it once."""
    state = server_state(request)
    operator = await _target(request, username, changing=True)
    password = await operators.reset_operator_password(
        state.store, username, actor=_actor(request), address=_client(request)
    )
    await state.registry.end_operator(operator.id, "the operator's password was reset")
    return _one_time_page(request, username, password, created=False)


# --- network lists -------------------------------------------------------------------------


async def _lists_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    state = server_state(request)
    everything = await netlists.entries(state.store)
    lists = [
        {"name": name, "label": label, "entries": [e for e in everything if e.list_name == name]}
        for name, label in netlists.LISTS.items()
    ]
    context = {"lists": lists, "error": error, "your_address": _client(request) or ""}
    return templates.TemplateResponse(request, "admin_lists.html", context, status_code=status)


@router.get("/lists")
@action("admin.lists")
async def lists_page(request: Request) -> Response:
    """The operator allow list and the customer block list."""
    return await _lists_page(request)


@router.post("/lists")
@action("admin.lists")
async def lists_add(request: Request) -> Response:
    """Add a network to a list."""
    state = server_state(request)
    form = await request.form()
    list_name = str(form.get("list_name", ""))
    network = str(form.get("network", ""))
    address = _client(request)
    if list_name == netlists.OPERATOR_ALLOW and form.get("confirm_lockout") != "yes":
        # Adding the first allowed network that does not hold the admin's own address would
        # lock this admin out on the next click; make them say they mean it.
        current = [e.network for e in await netlists.entries(state.store, list_name)]
        try:
            candidate = str(netlists.parse_network(network))
        except ConfigError as exc:
            return await _lists_page(request, 400, str(exc))
        if not netlists.matches(address, [*current, candidate]):
            message = (
                f"Your own address {address} would not be allowed: add its network too, or "
                "tick the box to confirm. / このアドレスからはサインインできなくなります。"
            )
            return await _lists_page(request, 409, message)
    try:
        await netlists.add_entry(
            state.store,
            list_name,
            network,
            note=str(form.get("note", "")),
            actor=_actor(request),
            address=address,
        )
    except ConfigError as exc:
        return await _lists_page(request, 400, str(exc))
    return RedirectResponse("/admin/lists", status_code=303)


@router.post("/lists/remove")
@action("admin.lists")
async def lists_remove(request: Request) -> Response:
    """Remove a network from a list."""
    state = server_state(request)
    form = await request.form()
    try:
        await netlists.remove_entry(
            state.store,
            str(form.get("list_name", "")),
            str(form.get("network", "")),
            actor=_actor(request),
            address=_client(request),
        )
    except ConfigError as exc:
        return await _lists_page(request, 400, str(exc))
    return RedirectResponse("/admin/lists", status_code=303)


# --- audit log -------------------------------------------------------------------------------


@router.get("/audit")
@action("admin.audit")
async def audit_page(request: Request) -> Response:
    """The audit log, newest first, a page at a time, with the state of the hash chain."""
    state = server_state(request)
    before_text = request.query_params.get("before", "")
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    rows = await state.store.audit.entries(limit=AUDIT_PAGE_SIZE, before=before)
    report = await state.store.audit.verify()
    context = {
        "rows": rows,
        "report": report,
        "older": rows[-1].id if len(rows) == AUDIT_PAGE_SIZE else None,
    }
    return templates.TemplateResponse(request, "admin_audit.html", context)


@router.get("/audit/export.csv")
@action("admin.audit")
async def audit_csv(request: Request) -> Response:
    """The whole audit log as CSV, oldest first."""
    rows = await server_state(request).store.audit.entries(newest_first=False)
    return Response(
        export_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tasuke-audit.csv"', **_NO_STORE},
    )


@router.get("/audit/export.json")
@action("admin.audit")
async def audit_json(request: Request) -> Response:
    """The whole audit log as JSON, oldest first, with hashes for re-checking elsewhere."""
    rows = await server_state(request).store.audit.entries(newest_first=False)
    return Response(
        export_json(rows),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="tasuke-audit.json"', **_NO_STORE},
    )
