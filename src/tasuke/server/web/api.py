"""REST API for the console (JSON). Signed in and CSRF-checked by the middleware."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import JSONResponse

from tasuke.errors import LimitExceeded
from tasuke.server.admin.rights import action, opened_session
from tasuke.server.db.models import SupportSession
from tasuke.server.db.store import SessionRow, session_status
from tasuke.server.state import server_state
from tasuke.server.web.pages import format_number, listed_operator, signed_in
from tasuke.server.ws.tickets import OperatorTicketLimit

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
    """The newest support sessions: the operator's own, or everyone's for an admin."""
    state = server_state(request)
    now = state.store.now()
    return [
        {
            **_describe(row.session, session_status(row.session, now)),
            "operator": row.operator.username,
        }
        for row in await state.store.list_sessions(listed_operator(request))
    ]


@router.get("/sessions/{session_id}")
@action("session.open")
async def get_session(request: Request, session_id: str) -> dict[str, Any]:
    """One support session (the rights check loaded it: own session or admin, else 404)."""
    state = server_state(request)
    row: SessionRow = opened_session(request)
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
    row: SessionRow = opened_session(request)
    if session_status(row.session, state.store.now()) in ("ended", "expired"):
        raise HTTPException(status_code=409, detail="the session is over")
    try:
        ticket = state.tickets.mint(row.session.id, who.operator.id)
    except OperatorTicketLimit as exc:
        raise HTTPException(status_code=429, detail=exc.reason) from exc
    except LimitExceeded as exc:
        raise HTTPException(status_code=503, detail=exc.reason) from exc
    return JSONResponse(
        {"ticket": ticket, "url": f"/ws/console?ticket={ticket}"},
        headers={"Cache-Control": "no-store"},
    )
