"""Roles, per-operator rights and connection modes, and the table of what each action needs.

Two roles: an *admin* manages operators, lists and the audit log; an *operator* runs support
sessions. Independently of the role, each operator holds a set of rights (view, control, file
transfer, system information) and a set of connection modes (how a customer may reach them).

The rule for every console route lives next to its handler: the handler is decorated with
:func:`action`, naming an entry of :data:`ACTIONS`. :func:`enforce` runs as an app-wide FastAPI
dependency before every handler and looks the rule up from the route that was actually
dispatched, so a route that names no action is refused (default deny), and there is no second
list of paths that could drift from the routes.

Ownership is part of the same rule: a route whose path names a support session
(``{session_id}``) must perform an action marked ``own_session``, and :func:`enforce` loads that
session and lets only its operator or an admin through. To anyone else the session does not
exist (404, the same answer as an unknown id), so no handler can forget the check.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from tasuke.server.db.models import Operator

__all__ = [
    "ACTIONS",
    "ALL_RIGHTS",
    "DEFAULT_MODES",
    "DEFAULT_RIGHTS",
    "FUTURE_MODES",
    "MODES",
    "MODE_LABELS",
    "RIGHTS",
    "RIGHT_LABELS",
    "Need",
    "action",
    "action_of",
    "enforce",
    "format_names",
    "grant_permissions",
    "may",
    "modes_of",
    "normalise_rights",
    "opened_session",
    "rights_of",
]

RIGHTS: Final = ("view", "control", "files", "sysinfo")
"""Rights in display order. They are also the ``permissions`` names in the signed grant."""
RIGHT_LABELS: Final = {
    "view": "View the screen / 画面の表示",
    "control": "Remote control / リモート操作",
    "files": "File transfer / ファイル転送",
    "sysinfo": "System information / システム情報",
}
ALL_RIGHTS: Final = ",".join(RIGHTS)
DEFAULT_RIGHTS: Final = "view"
"""What a new operator may do unless the admin gives more: least privilege."""

MODES: Final = ("number",)
"""Connection modes that exist now: the customer types a 9-digit session number."""
FUTURE_MODES: Final = ("device", "otp")
"""Modes planned (installed agent with a device key; one-time password). Shown, not selectable."""
MODE_LABELS: Final = {
    "number": "Session number / セッション番号",
    "device": "Installed agent (device key) — not available yet / 常駐エージェント（未対応）",
    "otp": "One-time password — not available yet / ワンタイムパスワード（未対応）",
}
DEFAULT_MODES: Final = "number"


def _names(text: str, known: Iterable[str]) -> frozenset[str]:
    # Unknown names (typos, modes from a newer version) grant nothing: default deny.
    allowed = set(known)
    return frozenset(part for part in (p.strip() for p in text.split(",")) if part in allowed)


def normalise_rights(names: Iterable[str]) -> frozenset[str]:
    """Known rights only; any right beyond viewing implies viewing (nothing works without it)."""
    chosen = frozenset(n for n in names if n in RIGHTS)
    return chosen | {"view"} if chosen else chosen


def rights_of(operator: Operator) -> frozenset[str]:
    """The rights an operator holds (none while disabled)."""
    if operator.disabled_at is not None:
        return frozenset()
    return normalise_rights(_names(operator.rights or "", RIGHTS))


def modes_of(operator: Operator) -> frozenset[str]:
    """The connection modes an operator may use (none while disabled)."""
    if operator.disabled_at is not None:
        return frozenset()
    return _names(operator.modes or "", MODES)


def format_names(names: Iterable[str], order: Iterable[str]) -> str:
    """Store a set of names as a comma list in a stable order."""
    chosen = set(names)
    return ",".join(n for n in order if n in chosen)


def grant_permissions(operator: Operator) -> list[str]:
    """The ``permissions`` the server signs into a grant for a session of ``operator``.

    The agent offers control only when ``"control"`` is present; an operator with the
    view-only right gets ``["view"]``.
    """
    return [r for r in RIGHTS if r in rights_of(operator)]


@dataclass(frozen=True)
class Need:
    """What an action requires: the admin role, rights, and/or a connection mode."""

    admin: bool = False
    rights: frozenset[str] = frozenset()
    mode: str | None = None
    own_session: bool = False
    """The route names one support session (``{session_id}``): its operator or an admin only."""


ACTIONS: Final[dict[str, Need]] = {
    # Any enabled, fully signed-in operator: their own pages, password, sign-out.
    "console": Need(),
    # Support sessions.
    "session.list": Need(rights=frozenset({"view"})),
    "session.create": Need(rights=frozenset({"view"}), mode="number"),
    "session.open": Need(rights=frozenset({"view"}), own_session=True),
    # Administration.
    "admin.operators": Need(admin=True),
    "admin.lists": Need(admin=True),
    "admin.audit": Need(admin=True),
    "admin.settings": Need(admin=True),
}
"""Every action a console route can perform, and what it needs. Routes name one of these."""


def may(operator: Operator, need: Need) -> bool:
    """Whether ``operator`` meets ``need`` (a disabled operator meets nothing)."""
    if operator.disabled_at is not None:
        return False
    if need.admin and not operator.is_admin:
        return False
    if not need.rights <= rights_of(operator):
        return False
    return need.mode is None or need.mode in modes_of(operator)


_F = TypeVar("_F", bound=Callable[..., Any])
_ATTRIBUTE = "__tasuke_action__"


def action(name: str) -> Callable[[_F], _F]:
    """Mark a route handler as performing action ``name`` (a key of :data:`ACTIONS`).

    Raises:
        KeyError: ``name`` is not in :data:`ACTIONS` (at import time, not at request time).
    """
    if name not in ACTIONS:
        raise KeyError(f"unknown action {name!r}")

    def mark(handler: _F) -> _F:
        setattr(handler, _ATTRIBUTE, name)
        return handler

    return mark


def action_of(handler: object) -> str | None:
    """The action a handler was marked with, if any."""
    value = getattr(handler, _ATTRIBUTE, None)
    return value if isinstance(value, str) else None


def _sign_in_flow_paths(middleware: Any) -> frozenset[str]:
    names = ("PASSWORD_CHANGE_PATHS", "SECOND_FACTOR_PATHS", "ENROL_PATHS")
    paths: frozenset[str] = frozenset()
    for name in names:
        paths |= frozenset(getattr(middleware, name, frozenset()))
    return paths


async def enforce(connection: HTTPConnection) -> None:
    """App-wide dependency: refuse the request unless the dispatched route's action allows it.

    Paths that the access middleware treats as public or ticket-authenticated are left to it.

    Raises:
        HTTPException: 403 when the route names no action (default deny), the operator is
            missing, disabled, not an admin for an admin action, or lacks a right or mode.
    """
    from tasuke.server.security import middleware

    path = connection.scope["path"]
    if middleware.access_class(path) != "operator":
        return
    route = connection.scope.get("route")
    name = action_of(getattr(route, "endpoint", None))
    if name is None and path in _sign_in_flow_paths(middleware):
        # Password change, second factor, enrolment: the middleware's stage rules decide who
        # reaches these; here they need only a signed-in, enabled operator.
        name = "console"
    if name is None:
        raise HTTPException(
            status_code=403,
            detail="no access rule for this route (mark its handler with rights.action)",
        )
    who = getattr(connection.state, "signed_in", None)
    operator = getattr(who, "operator", None)
    if not isinstance(operator, Operator):
        raise HTTPException(status_code=401, detail="sign in first")
    need = ACTIONS[name]
    if not may(operator, need):
        raise HTTPException(status_code=403, detail="you do not have the right to do this")
    params = connection.scope.get("path_params") or {}
    if ("session_id" in params) != need.own_session:
        # A route naming a session under an action without the ownership rule (or the other
        # way round) is a wiring mistake: refuse rather than guess.
        raise HTTPException(status_code=403, detail="no session rule for this route")
    if need.own_session:
        await _open_own_session(connection, operator, str(params["session_id"]))


async def _open_own_session(
    connection: HTTPConnection, operator: Operator, session_id: str
) -> None:
    from tasuke.server.state import server_state

    row = await server_state(connection).store.get_session(session_id)
    if row is None or (row.session.operator_id != operator.id and not operator.is_admin):
        # Another operator's session gets the answer an unknown id gets: its existence (and
        # so a live number's) is not revealed.
        raise HTTPException(status_code=404, detail="no such session")
    connection.state.opened_session = row


def opened_session(connection: HTTPConnection) -> Any:
    """The ``SessionRow`` that :func:`enforce` loaded and checked for an ``own_session`` route.

    Typed ``Any`` here because the store imports this module; callers annotate it.

    Raises:
        HTTPException: 404 if the route was not an ``own_session`` route (nothing was loaded).
    """
    row = getattr(connection.state, "opened_session", None)
    if row is None:
        raise HTTPException(status_code=404, detail="no such session")
    return row
