"""REST API for the console (JSON). Signed in and CSRF-checked by the middleware."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import JSONResponse

from tasuke.errors import LimitExceeded
from tasuke.server.admin.rights import action
from tasuke.server.db.models import SupportSession
from tasuke.server.db.store import session_status
from tasuke.server.state import server_state
from tasuke.server.web.pages import format_number, signed_in

__all__ = ["router"]

router = APIRouter(prefix="/api")


def _describe(session: SupportSession, status: str) -> dict[str, Any]:
    return {
        "id": session.id,
        "number": session.number,
        "number_display": format_number(session.number),
        "status": status,
        "created_at": session.created_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "joined_at": session.joined_at.isoformat() if session.joined_at else None,
        "consent_decision": session.consent_decision,
        "consent_scope": session.consent_scope,
        "verified_at": session.verified_at.isoformat() if session.verified_at else None,
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
        "ended_by": session.ended_by,
        "end_reason": session.end_reason,
        "customer_address": session.customer_address,
        "agent": session.agent_info,
    }


@router.post("/sessions", status_code=201)
@action("session.create")
async def create_session(request: Request) -> dict[str, Any]:
    """Create a support session with a fresh number."""
    state = server_state(request)
    session = await state.store.create_session(
        signed_in(request).operator.id, address=request.client.host if request.client else None
    )
    return _describe(session, "waiting")


@router.get("/sessions")
@action("session.list")
async def list_sessions(request: Request) -> list[dict[str, Any]]:
    """The newest support sessions."""
    state = server_state(request)
    now = state.store.now()
    return [
        {
            **_describe(row.session, session_status(row.session, now)),
            "operator": row.operator.username,
        }
        for row in await state.store.list_sessions()
    ]


@router.get("/sessions/{session_id}")
@action("session.open")
async def get_session(request: Request, session_id: str) -> dict[str, Any]:
    """One support session."""
    state = server_state(request)
    row = await state.store.get_session(session_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such session")
    return {
        **_describe(row.session, session_status(row.session, state.store.now())),
        "operator": row.operator.username,
    }


@router.post("/sessions/{session_id}/ticket")
@action("session.open")
async def mint_ticket(request: Request, session_id: str) -> JSONResponse:
    """A single-use ticket for the console WebSocket of a session this operator may open."""
    state = server_state(request)
    who = signed_in(request)
    row = await state.store.get_session(session_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such session")
    if row.session.operator_id != who.operator.id and not who.operator.is_admin:
        raise HTTPException(status_code=403, detail="not your session")
    if session_status(row.session, state.store.now()) in ("ended", "expired"):
        raise HTTPException(status_code=409, detail="the session is over")
    try:
        ticket = state.tickets.mint(session_id, who.operator.id)
    except LimitExceeded as exc:
        raise HTTPException(status_code=503, detail=exc.reason) from exc
    return JSONResponse(
        {"ticket": ticket, "url": f"/ws/console?ticket={ticket}"},
        headers={"Cache-Control": "no-store"},
    )
