"""The two WebSocket endpoints: ``/ws/agent`` (joins by number) and ``/ws/console`` (ticket).

Anything a peer does wrong ends in :class:`tasuke.errors.RemoteError`, caught here, at the one
boundary per leg: that leg is closed with 1008 or 1009 and a reason, the other leg is told, and
the process carries on. Any other exception is a bug of ours: it is logged, the leg is closed
with 1011 and the session is ended and recorded the same way, so a bug never leaves a session
hanging.
"""

import asyncio
import logging
import re
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from tasuke import limits
from tasuke.errors import ProtocolError, RemoteError
from tasuke.server.admin.netlists import customer_blocked, note_refusal
from tasuke.server.admin.rights import grant_permissions, modes_of
from tasuke.server.db.models import Operator, SupportSession
from tasuke.server.db.store import session_status
from tasuke.server.security.signing import sign_grant
from tasuke.server.security.throttle import network_key
from tasuke.server.state import ServerState, server_state
from tasuke.server.ws.leg import Leg, ServerStopping
from tasuke.server.ws.live import LiveSession
from tasuke.server.ws.messages import (
    AgentConsent,
    ConsoleVerified,
    End,
    FrameTooBig,
    parse_agent_message,
    parse_console_message,
    parse_hello,
    parse_object,
)

__all__ = ["agent_endpoint", "client_address", "console_endpoint"]

log = logging.getLogger("tasuke.server.ws")
_NUMBER = re.compile(r"[0-9]{9}")
_ALL = "all"  # the one key of the server-wide failed-join limit


def client_address(websocket: WebSocket) -> str | None:
    """The peer's address as the ASGI server saw it (after trusted proxy headers)."""
    return websocket.client.host if websocket.client else None


async def _fail(leg: Leg, live: LiveSession | None, exc: Exception) -> None:
    if isinstance(exc, RemoteError):
        code = 1009 if isinstance(exc, FrameTooBig) else 1008
        reason = exc.reason
    else:
        log.exception("%s leg failed", leg.role)
        code, reason = 1011, "internal error"
    if live is not None:
        await live.end("server", f"{leg.role}: {reason}", culprit=leg, code=code)
    else:
        await leg.close(code, reason)


async def _remaining(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())


# --- agent leg -----------------------------------------------------------------------------


async def agent_endpoint(websocket: WebSocket) -> None:
    """Serve one agent: hello, join by number, welcome with the signed grant, then relay."""
    state = server_state(websocket)
    await websocket.accept()
    leg = Leg(websocket, "agent", client_address(websocket))
    live: LiveSession | None = None
    try:
        joined = await _agent_opening(state, leg)
        if joined is not None:
            live, agent_info = joined
            await live.attach_agent(leg, agent_info)
            await _agent_loop(leg, live)
    except ServerStopping:
        if live is not None:
            await live.end("server", "the server is shutting down")
    except Exception as exc:  # the leg's boundary: peer errors and our bugs both end here
        await _fail(leg, live, exc)
    finally:
        if live is not None and live.ended:
            await live.settled()


async def _refuse(leg: Leg, code: str, message: str) -> None:
    await leg.send_then_close({"type": "error", "code": code, "message": message}, 1008, code)


async def _refuse_blocked(state: ServerState, leg: Leg) -> None:
    await note_refusal(
        state.store, state.blocked_noted, "agent.blocked", leg.address, state.clock()
    )
    await _refuse(
        leg,
        "blocked",
        "Connections from your network are not accepted. / "
        "お使いのネットワークからの接続は受け付けていません。",
    )


async def _agent_opening(state: ServerState, leg: Leg) -> tuple[LiveSession, dict[str, Any]] | None:
    # The block list comes first: before the hello is read, before any number is looked up,
    # before anything about a session is written.
    if await customer_blocked(state.store, leg.address):
        await _refuse_blocked(state, leg)
        return None
    try:
        frame = await asyncio.wait_for(leg.receive(), limits.HELLO_TIMEOUT)
    except TimeoutError as exc:
        raise ProtocolError("no hello in time") from exc
    if frame is None:
        return None
    if isinstance(frame, bytes):
        raise ProtocolError("binary frame before welcome")
    hello = parse_hello(parse_object(frame))
    # Failed joins count per source network (a /24 or /64 is one guesser's to spread over) and
    # server-wide, so guesses spread over many networks are bounded too.
    source = network_key(leg.address)
    now = state.clock()
    if state.join_limit.blocked(source, now) or state.join_limit_server.blocked(_ALL, now):
        await _refuse(leg, "rate_limited", "Too many failed joins. Wait a minute.")
        return None
    row = None
    if _NUMBER.fullmatch(hello.join):
        row = await state.store.claim_number(hello.join, leg.address, hello.agent)
    if row is None:
        state.join_limit.failed(source, now)
        state.join_limit_server.failed(_ALL, now)
        # One answer for wrong, expired and used numbers: a guesser learns nothing.
        await _refuse(leg, "invalid_session", "No such session number, or it expired.")
        return None
    # The grant carries exactly the rights of the operator who created the session, read now
    # (an admin may have narrowed them since): a view-only operator's agent offers no control.
    permissions = grant_permissions(row.operator)
    if not permissions or "number" not in modes_of(row.operator):
        await state.store.record_end(
            row.session.id, "server", "the operator may no longer run sessions"
        )
        await _refuse(leg, "invalid_session", "No such session number, or it expired.")
        return None
    grant: dict[str, Any] = {
        "session_id": row.session.id,
        "operator": row.operator.display_name,
        "organisation": state.settings.organisation,
        "permissions": permissions,
        "expires": int(now + limits.GRANT_TTL),
        "server": state.settings.url,
    }
    signed = sign_grant(state.signing_key, grant)
    await leg.send_json(
        {"type": "welcome", "session_id": row.session.id, **signed.welcome_fields()}
    )
    live = state.registry.open(row.session.id, row.session.number, row.session.operator_id)
    return live, hello.agent


async def _agent_loop(leg: Leg, live: LiveSession) -> None:
    deadline = asyncio.get_running_loop().time() + limits.PEER_WAIT_TIMEOUT
    while True:
        timeout = None if live.paired else await _remaining(deadline)
        try:
            frame = await asyncio.wait_for(leg.receive(), timeout)
        except TimeoutError:
            if not live.paired:
                await live.end("server", "no operator connected in time")
                return
            continue
        if live.ended:
            return
        if frame is None:
            await live.end("customer", "the customer's agent disconnected")
            return
        if isinstance(frame, bytes):
            await live.forward(leg, frame)
            continue
        live.note_control()
        message = parse_agent_message(parse_object(frame))
        if isinstance(message, AgentConsent):
            await live.consent(message.decision, message.scope, message.reason, leg.address)
        elif isinstance(message, End):
            await live.end("customer", message.reason or "the customer ended the session")
            return


# --- console leg ---------------------------------------------------------------------------


async def _deny(websocket: WebSocket, reason: str) -> None:
    # Refused before the upgrade: the browser sees HTTP 403 and never gets a socket.
    await websocket.send_denial_response(PlainTextResponse(reason, status_code=403))


async def console_endpoint(websocket: WebSocket) -> None:
    """Serve one operator console: Origin and ticket checked before the upgrade, then relay."""
    state = server_state(websocket)
    origin = websocket.headers.get("origin")
    if origin is None or origin.rstrip("/").lower() != state.settings.origin:
        await _deny(websocket, "origin not allowed")
        return
    token = websocket.query_params.get("ticket", "")
    ticket = state.tickets.spend(token) if token else None
    if ticket is None:
        await _deny(websocket, "invalid or expired ticket")
        return
    row = await state.store.get_session(ticket.session_id)
    if row is None:
        await _deny(websocket, "no such session")
        return
    if row.operator.disabled_at is not None:
        await _deny(websocket, "the operator was disabled")
        return
    await websocket.accept()
    leg = Leg(websocket, "console", client_address(websocket))
    live: LiveSession | None = None
    watcher: asyncio.Task[None] | None = None
    try:
        live = await _console_opening(state, leg, row.session)
        if live is not None:
            watcher = asyncio.create_task(_watch_operator(state, live, row.operator))
            wait = min(
                limits.PEER_WAIT_TIMEOUT,
                max(0.0, row.session.expires_at.timestamp() - state.clock()),
            )
            await _console_loop(leg, live, asyncio.get_running_loop().time() + wait)
    except ServerStopping:
        if live is not None:
            await live.end("server", "the server is shutting down")
    except Exception as exc:  # the leg's boundary: peer errors and our bugs both end here
        await _fail(leg, live, exc)
    finally:
        if live is not None and live.ended:
            await live.settled()  # first: the watcher may be the one still ending it
        if watcher is not None:
            watcher.cancel()


async def _watch_operator(state: ServerState, live: LiveSession, operator: Operator) -> None:
    """End the session once its operator is disabled or their password or second factor reset.

    The admin pages end such sessions at once through the registry; this catches the
    ``tasuke operator`` commands, which run in another process and can only change the
    database. It reads the operator every ``registry.operator_recheck`` seconds.
    """
    generation = operator.credentials_generation or 0
    try:
        while not live.ended:
            await asyncio.sleep(state.registry.operator_recheck)
            if live.ended:
                return
            now = await state.store.operator_by_id(operator.id)
            if now is None or now.disabled_at is not None:
                await live.end("server", "the operator was disabled")
            elif (now.credentials_generation or 0) != generation:
                await live.end("server", "the operator's sign-in was reset")
    except SQLAlchemyError:
        log.exception("could not re-check the operator of session %s", live.session_id)


async def _console_opening(
    state: ServerState, leg: Leg, session: SupportSession
) -> LiveSession | None:
    status = session_status(session, state.store.now())
    live = state.registry.get(session.id)
    if status in ("ended", "expired") or (status == "active" and live is None):
        if status == "active":
            await state.store.record_end(session.id, "server", "the session was lost")
        by = session.ended_by or "server"
        reason = session.end_reason or "the session number expired"
        await leg.send_then_close({"type": "session_ended", "by": by, "reason": reason}, 1000, "")
        return None
    live = state.registry.open(session.id, session.number, session.operator_id)
    if not await live.attach_console(leg):
        await leg.close(1008, "session already has a console")
        return None
    return live


async def _console_loop(leg: Leg, live: LiveSession, deadline: float) -> None:
    while True:
        timeout = None if live.agent is not None else await _remaining(deadline)
        try:
            frame = await asyncio.wait_for(leg.receive(), timeout)
        except TimeoutError:
            if live.agent is None:
                await live.end("server", "no customer joined in time")
                return
            continue
        if live.ended:
            return
        if frame is None:
            if live.agent is None:
                live.detach_console(leg)
            else:
                await live.end("operator", "the operator's console disconnected")
            return
        if isinstance(frame, bytes):
            await live.forward(leg, frame)
            continue
        live.note_control()
        message = parse_console_message(parse_object(frame))
        if isinstance(message, End):
            await live.end("operator", message.reason or "the operator ended the session")
            return
        if isinstance(message, ConsoleVerified):
            await live.verified()
