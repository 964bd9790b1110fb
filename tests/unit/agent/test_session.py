"""The agent's connection state machine against a fake server and a real E2E console."""

import asyncio
import io
import json
import os
import signal
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tasuke import limits
from tasuke.agent import consent as c
from tasuke.agent.connection import join
from tasuke.agent.deps import JoinDeps, JoinOptions
from tasuke.errors import RFBError
from tests.unit.agent.fakes import (
    FakeInput,
    FakeScreen,
    FakeServer,
    FakeUI,
    Leg,
    joined,
    signed_welcome,
    start_agent,
    wait_until,
)


async def test_hello_carries_the_number_and_the_screen(server: FakeServer) -> None:
    agent = await start_agent(server)
    hello = await agent.leg.recv_text()
    assert hello["join"] == "123456789"
    assert hello["role"] == "agent"
    assert hello["agent"]["screen"] == [64, 48]
    await agent.leg.send({"type": "error", "code": "invalid_session", "message": "no"})
    await agent.leg.conn.close()
    assert await agent.exit_code() == 1


async def test_invalid_number_is_reported_in_both_languages(server: FakeServer) -> None:
    agent = await start_agent(server)
    await agent.leg.recv_text()
    await agent.leg.send(
        {"type": "error", "code": "invalid_session", "message": "Invalid or expired session"}
    )
    await agent.leg.conn.close()
    assert await agent.exit_code() == 1
    err = agent.err.getvalue()
    assert "セッション番号が正しくないか" in err
    assert "The session number is invalid or has expired" in err
    assert agent.ui.prompts == []


async def test_a_forged_grant_stops_before_anything_is_shown(server: FakeServer) -> None:
    agent = await start_agent(server)
    await agent.leg.recv_text()
    await agent.leg.send(signed_welcome(signer=Ed25519PrivateKey.generate()))
    assert await agent.exit_code() == 1
    assert "signed grant could not be verified" in agent.err.getvalue()
    assert agent.ui.prompts == []
    assert agent.ui.notes == []


async def test_an_expired_grant_is_refused(server: FakeServer) -> None:
    agent = await start_agent(server)
    await agent.leg.recv_text()
    await agent.leg.send(signed_welcome(expires=1))
    assert await agent.exit_code() == 1
    assert "expired" in agent.err.getvalue()


async def test_prompt_shows_verified_operator_and_the_same_code(server: FakeServer) -> None:
    agent = await joined(server)
    prompt = agent.ui.prompts[0]
    assert prompt.operator == "佐藤 花子"
    assert prompt.organisation == "Example Help Desk"
    assert prompt.sas == agent.leg.sas
    assert prompt.sas is not None
    assert len(prompt.sas) == 6
    info = agent.leg.control[0]
    assert info["type"] == "info"
    assert info["screen"] == [64, 48]
    # Before the answer: no screen byte, no capture.
    assert agent.leg.rfb_records == 0
    assert agent.screen.grabs == 0
    agent.ui.answer(c.Deny())
    assert await agent.exit_code() == 0


async def test_allow_control_reports_and_then_streams_the_screen(server: FakeServer) -> None:
    agent = await joined(server)
    agent.ui.answer(c.AllowControl())
    await agent.leg.pump(lambda: agent.leg.rfb.startswith(b"RFB 003.008\n"))
    consent = [t for t in agent.leg.texts if t["type"] == "consent"]
    assert consent == [
        {"type": "consent", "decision": "granted", "scope": "control", "reason": "user"}
    ]
    assert ("consent", "granted") in agent.leg.control_types()
    assert agent.ui.sessions[0].scope == "control"
    assert agent.ui.sessions[0].operator == "佐藤 花子"
    # RFB handshake through the console, then a click reaches the desktop.
    await rfb_handshake(agent.leg)
    await agent.leg.console_send(1, struct.pack(">BBHH", 5, 1, 10, 20))
    await wait_until(lambda: ("pointer", 10, 20, 1) in agent.sink.events)
    agent.ui.answer(c.EndSession())
    loop = asyncio.get_running_loop()
    started = loop.time()
    await agent.leg.pump(lambda: agent.leg.closed)
    assert loop.time() - started < 1.0
    assert {
        "type": "end",
        "by": "customer",
        "reason": "the customer ended the session",
    } in agent.leg.control
    assert any(t["type"] == "end" for t in agent.leg.texts)
    assert await agent.exit_code() == 0
    assert agent.ui.closed


async def rfb_handshake(leg: Leg) -> None:
    await leg.console_send(1, b"RFB 003.008\n")
    await leg.pump(lambda: len(leg.rfb) >= 12 + 2)
    assert leg.rfb[12:14] == b"\x01\x01"  # one security type: None
    await leg.console_send(1, b"\x01")
    await leg.console_send(1, b"\x01")  # ClientInit, shared
    await leg.pump(lambda: len(leg.rfb) >= 14 + 4 + 24)
    assert leg.rfb[14:18] == b"\x00\x00\x00\x00"  # SecurityResult OK
    assert struct.unpack(">HH", leg.rfb[18:22]) == (64, 48)


async def test_view_only_never_injects_input(server: FakeServer) -> None:
    agent = await joined(server)
    agent.ui.answer(c.AllowView())
    await agent.leg.pump(lambda: len(agent.leg.rfb) >= 12)
    assert agent.ui.sessions[0].scope == "view"
    await rfb_handshake(agent.leg)
    await agent.leg.console_send(1, struct.pack(">BBHH", 5, 1, 10, 20))
    await agent.leg.console_send(1, struct.pack(">BBxxI", 4, 1, 0x61))
    # A screen update request after the input proves the input was processed.
    await agent.leg.console_send(1, struct.pack(">BBHHHH", 3, 0, 0, 0, 64, 48))
    await agent.leg.pump(lambda: agent.screen.grabs > 0)
    assert agent.sink.events == []
    agent.ui.answer(c.WindowClosed())
    assert await agent.exit_code() == 0


async def test_deny_sends_no_screen_record_and_is_recorded(server: FakeServer) -> None:
    agent = await joined(server)
    agent.ui.answer(c.Deny())
    await agent.leg.pump(lambda: agent.leg.closed)
    assert {"type": "consent", "decision": "denied", "scope": None, "reason": "user"} in (
        agent.leg.texts
    )
    assert ("consent", "denied") in agent.leg.control_types()
    assert agent.leg.rfb_records == 0
    assert agent.screen.grabs == 0
    assert await agent.exit_code() == 0
    assert agent.ui.sessions == []


async def test_no_answer_within_the_timeout_means_deny(server: FakeServer) -> None:
    agent = await joined(server)
    agent.clock.now += limits.CONSENT_TIMEOUT
    await agent.leg.pump(lambda: agent.leg.closed)
    assert {"type": "consent", "decision": "denied", "scope": None, "reason": "timeout"} in (
        agent.leg.texts
    )
    assert agent.leg.rfb_records == 0
    assert await agent.exit_code() == 0


async def test_the_server_cannot_grant_consent(server: FakeServer) -> None:
    agent = await joined(server)
    await agent.leg.console_send(1, b"RFB 003.008\n")
    await agent.leg.send({"type": "consent", "decision": "granted", "scope": "control"})
    # Let the agent process both; a timeout deny afterwards shows it is still pending.
    agent.clock.now += limits.CONSENT_TIMEOUT
    await agent.leg.pump(lambda: agent.leg.closed)
    assert agent.leg.rfb_records == 0
    assert agent.screen.grabs == 0
    assert agent.ui.sessions == []
    assert await agent.exit_code() == 0


async def test_a_consent_claim_from_the_console_ends_the_session(server: FakeServer) -> None:
    agent = await joined(server)
    claim = {"type": "consent", "state": "granted", "scope": "control"}
    await agent.leg.console_send(0, json.dumps(claim).encode())
    await agent.leg.pump(lambda: agent.leg.closed)
    assert await agent.exit_code() == 1
    assert agent.leg.rfb_records == 0
    assert agent.screen.grabs == 0
    assert agent.ui.sessions == []
    assert any("unknown control message type" in note for note in agent.ui.notes)


async def test_operator_end_on_channel_0_ends_quickly(server: FakeServer) -> None:
    agent = await joined(server)
    agent.ui.answer(c.AllowControl())
    await agent.leg.pump(lambda: len(agent.leg.rfb) >= 12)
    end = {"type": "end", "by": "operator", "reason": "done"}
    await agent.leg.console_send(0, json.dumps(end).encode())
    assert await agent.exit_code(within=1.0) == 0
    assert any("operator ended" in note for note in agent.ui.notes)


async def test_server_session_ended_ends_quickly(server: FakeServer) -> None:
    agent = await joined(server)
    await agent.leg.send({"type": "session_ended", "by": "operator", "reason": "done"})
    assert await agent.exit_code(within=1.0) == 0


async def test_stop_request_while_prompting_is_deny(server: FakeServer) -> None:
    agent = await joined(server)
    agent.ui.answer(c.AgentStopping())
    # AgentStopping from the UI while pending ends without a grant.
    await agent.leg.pump(lambda: agent.leg.closed)
    assert agent.leg.rfb_records == 0
    assert await agent.exit_code() == 0


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[]",
        json.dumps({"type": "x", "pad": "y" * limits.MAX_CONTROL_MESSAGE}).encode(),
    ],
)
async def test_bad_control_message_aborts_with_a_message(server: FakeServer, bad: bytes) -> None:
    agent = await joined(server)
    await agent.leg.console_send(0, bad)
    await agent.leg.pump(lambda: agent.leg.closed)
    assert await agent.exit_code() == 1
    assert any("Session aborted" in note for note in agent.ui.notes)


async def test_binary_before_peer_joined_aborts(server: FakeServer) -> None:
    agent = await start_agent(server)
    await agent.leg.recv_text()
    await agent.leg.send(signed_welcome())
    await agent.leg.conn.send(b"\x00garbage")
    await agent.leg.pump(lambda: agent.leg.closed)
    assert await agent.exit_code() == 1
    assert any("before the operator joined" in note for note in agent.ui.notes)


async def test_tampered_e2e_frame_aborts(server: FakeServer) -> None:
    agent = await joined(server)
    await agent.leg.conn.send(b"\x05" + b"\x00" * 40)
    await agent.leg.pump(lambda: agent.leg.closed)
    assert await agent.exit_code() == 1
    assert agent.leg.rfb_records == 0


async def test_unknown_server_message_aborts(server: FakeServer) -> None:
    agent = await start_agent(server)
    await agent.leg.recv_text()
    await agent.leg.send(signed_welcome())
    await agent.leg.send({"type": "surprise"})
    await agent.leg.pump(lambda: agent.leg.closed)
    assert await agent.exit_code() == 1


async def test_server_going_away_is_an_error(server: FakeServer) -> None:
    agent = await start_agent(server)
    await agent.leg.recv_text()
    await agent.leg.send(signed_welcome())
    await agent.leg.conn.close()
    assert await agent.exit_code() == 1
    assert any("closed the connection" in note or "lost" in note for note in agent.ui.notes)


async def test_nobody_listening_is_a_clear_error() -> None:
    ui, err = FakeUI(), io.StringIO()
    deps = JoinDeps(
        ui=ui,
        open_backend=lambda _d: (FakeScreen(), FakeInput()),
        err=err,
        handle_signals=False,
    )
    code = await join(JoinOptions(number="123456789", server="http://127.0.0.1:9"), deps)
    assert code == 1
    assert "Cannot connect to the server" in err.getvalue()
    assert ui.closed


async def test_a_view_only_grant_cannot_be_answered_with_control(server: FakeServer) -> None:
    agent = await joined(server, permissions=["view"])
    assert agent.ui.prompts[0].view_only
    agent.ui.answer(c.AllowControl())
    agent.ui.answer(c.AllowView())
    await agent.leg.pump(lambda: len(agent.leg.rfb) >= 12)
    consent = [t for t in agent.leg.texts if t["type"] == "consent"]
    assert [t["scope"] for t in consent] == ["view"]
    agent.ui.answer(c.EndSession())
    assert await agent.exit_code() == 0


async def test_ctrl_c_while_waiting_for_the_welcome_leaves_quietly(server: FakeServer) -> None:
    ui, err = FakeUI(), io.StringIO()
    deps = JoinDeps(ui=ui, open_backend=lambda _d: (FakeScreen(), FakeInput()), err=err)
    task = asyncio.create_task(join(JoinOptions(number="123456789", server=server.url), deps))
    leg = Leg(await asyncio.wait_for(server.legs.get(), 5.0))
    assert (await leg.recv_text())["type"] == "hello"  # signal handlers are in place by now
    os.kill(os.getpid(), signal.SIGINT)
    assert await asyncio.wait_for(task, 2.0) == 0
    assert ui.closed


async def test_ctrl_c_in_the_prompt_is_deny(server: FakeServer) -> None:
    ui, err = FakeUI(), io.StringIO()
    deps = JoinDeps(ui=ui, open_backend=lambda _d: (FakeScreen(), FakeInput()), err=err)
    task = asyncio.create_task(join(JoinOptions(number="123456789", server=server.url), deps))
    leg = Leg(await asyncio.wait_for(server.legs.get(), 5.0))
    await leg.recv_text()
    await leg.send(signed_welcome())
    await leg.peer_joined()
    await leg.pump(lambda: ("consent", "pending") in leg.control_types())
    await wait_until(lambda: bool(ui.prompts))
    os.kill(os.getpid(), signal.SIGINT)
    await leg.pump(lambda: leg.closed)
    assert {"type": "consent", "decision": "denied", "scope": None, "reason": "user"} in leg.texts
    assert await asyncio.wait_for(task, 2.0) == 0


@pytest.mark.parametrize(
    ("failure", "shown"),
    [
        (RFBError("bad client message"), "Session aborted: bad client message"),
        (RuntimeError("X server went away"), "Internal error: RuntimeError: X server went away"),
    ],
)
async def test_a_failing_screen_engine_ends_the_session_with_a_message(
    server: FakeServer, failure: Exception, shown: str
) -> None:
    async def broken_rfb(*_args: object, **_kwargs: object) -> None:
        raise failure

    ui, err = FakeUI(), io.StringIO()
    deps = JoinDeps(
        ui=ui,
        open_backend=lambda _d: (FakeScreen(), FakeInput()),
        serve_rfb=broken_rfb,
        err=err,
        handle_signals=False,
    )
    task = asyncio.create_task(join(JoinOptions(number="123456789", server=server.url), deps))
    leg = Leg(await asyncio.wait_for(server.legs.get(), 5.0))
    await leg.recv_text()
    await leg.send(signed_welcome())
    await leg.peer_joined()
    await leg.pump(lambda: ("consent", "pending") in leg.control_types())
    await wait_until(lambda: bool(ui.prompts))
    ui.answer(c.AllowControl())
    await leg.pump(lambda: leg.closed)
    assert any(t["type"] == "end" for t in leg.texts)
    assert await asyncio.wait_for(task, 2.0) == 1
    assert any(shown in note for note in ui.notes)
