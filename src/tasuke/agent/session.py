"""One support session on the customer's side, over an open agent WebSocket.

Four tasks share the session and never block each other: the WebSocket reader,
the customer's UI choices, the consent and handshake deadlines, and (after a
grant) the RFB engine. Every send of an E2E record holds one lock from
``E2ESession.send`` until its frames are written, so records leave in sequence
order. The reader never waits for that lock once the channel is up (receiving a
record writes nothing) nor for the screen engine (see ``ChannelStream.feed``),
so an end from the server or the console is always read at once. Any task that
ends the session only records why; :meth:`AgentSession.run` then tears down in
one place.
"""

import asyncio
import contextlib
import json
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tasuke import limits
from tasuke.agent.consent import (
    AgentStopping,
    Consent,
    Decision,
    Deny,
    EndSession,
    LocalEvent,
    RemoteConsentClaim,
    RemoteEnd,
    RemoteEvent,
    State,
)
from tasuke.agent.deps import E2ELike, JoinDeps
from tasuke.agent.grant import Grant, verify_welcome
from tasuke.agent.hello import clean_text
from tasuke.agent.messages import (
    MonitorRequest,
    ended_text,
    monitor_list,
    monitors_message,
    parse_control,
    parse_server_text,
    refused_text,
    server_error_text,
)
from tasuke.agent.stream import ChannelStream
from tasuke.agent.ui import PromptInfo, SessionInfo
from tasuke.desktop.base import InputSink, Monitors, ScreenSource
from tasuke.e2e import CHANNEL_CONTROL, CHANNEL_RFB, ChannelData, HandshakeComplete
from tasuke.errors import ProtocolError, RemoteError, TasukeError
from tasuke.rfb.capture import MonitorChoice

__all__ = ["AgentSession"]


@dataclass(frozen=True, slots=True)
class _Outcome:
    code: int
    message: str
    tell_peers: bool
    """Send ``end`` to the server and the console before closing."""
    reason: str = ""


class AgentSession:
    """The customer's side of one session, from hello to goodbye."""

    def __init__(
        self,
        ws: ClientConnection,
        deps: JoinDeps,
        source: ScreenSource,
        sink: InputSink,
        events: "asyncio.Queue[LocalEvent]",
    ) -> None:
        self._ws = ws
        self._deps = deps
        self._ui = deps.ui
        self._source = source
        self._sink = sink
        self._events = events
        self._lock = asyncio.Lock()
        self._done = asyncio.Event()
        self._outcome: _Outcome | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._grant: Grant | None = None
        self._agent_info: dict[str, Any] = {}
        self._e2e: E2ELike | None = None
        self._consent: Consent | None = None
        self._stream: ChannelStream | None = None
        self._rfb_started = False
        self._monitor = MonitorChoice(0, on_change=self._monitors_changed)
        """Which monitor the screen engine shows; the console may change it."""
        self._monitors: list[list[int]] = []
        """The monitors the console was last told of, in ``info`` or ``monitors`` (its
        selector's choices)."""
        self._shown = 0
        """The monitor the console's selector shows: what the agent last told it, or what
        the operator chose since."""
        self._monitor_news = asyncio.Event()
        """Set when the screen engine may show or list other monitors than the console knows."""
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- life cycle ---------------------------------------------------------

    async def run(self, hello: dict[str, Any]) -> int:
        """Join with ``hello`` and run the session to its end; return the exit status."""
        self._agent_info = dict(hello["agent"])
        self._loop = asyncio.get_running_loop()
        try:
            await self._ws.send(json.dumps(hello))
            grant = await self._until_done(self._receive_welcome())
            if grant is None:  # Ctrl+C while waiting for the welcome
                await self._ws.close()
                return 0
            self._grant = grant
        except RemoteError as exc:
            self._say(exc.reason)
            return 1
        except websockets.exceptions.ConnectionClosed:
            self._say("サーバーが接続を閉じました / The server closed the connection.")
            return 1
        self._ui.notify(
            "接続しました。担当者を待っています… / Connected. Waiting for the operator… "
            f"({clean_text(self._grant.operator)}, {clean_text(self._grant.organisation)})"
        )
        self._spawn(self._read_loop())
        self._spawn(self._ui_loop())
        await self._done.wait()
        return await self._teardown()

    async def _until_done(self, coro: Coroutine[Any, Any, Grant]) -> Grant | None:
        """Run ``coro`` unless the session is told to stop first (then None)."""
        work = asyncio.ensure_future(coro)
        stop = asyncio.ensure_future(self._done.wait())
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        await asyncio.gather(stop, return_exceptions=True)
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            return None
        return work.result()

    def request_stop(self) -> None:
        """Ctrl+C or SIGTERM: Deny while the prompt is open, else end the session."""
        consent = self._consent
        if consent is None:
            self._finish(
                0, ended_text("customer"), tell_peers=True, reason="the customer ended the session"
            )
        elif consent.state is State.PENDING:
            self._events.put_nowait(Deny())
        else:
            self._events.put_nowait(EndSession())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(self._guard(coro)))

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except websockets.exceptions.ConnectionClosed:
            self._finish(
                1,
                "サーバーとの接続が切れました / The connection to the server was lost.",
                tell_peers=False,
            )
        except RemoteError as exc:
            self._finish(
                1,
                f"セッションを中止しました / Session aborted: {exc.reason}",
                tell_peers=True,
                reason=exc.reason,
            )
        except TasukeError as exc:
            self._finish(
                1,
                f"セッションを中止しました / Session aborted: {exc}",
                tell_peers=True,
                reason="agent error",
            )
        except Exception as exc:
            # A bug or an OS failure (say, the X server went away) must still end the
            # session cleanly rather than leave a task dead and the customer waiting.
            self._finish(
                1,
                f"内部エラー / Internal error: {type(exc).__name__}: {exc}",
                tell_peers=True,
                reason="agent error",
            )

    def _finish(self, code: int, message: str, *, tell_peers: bool, reason: str = "") -> None:
        if self._outcome is None:
            self._outcome = _Outcome(code, message, tell_peers, reason)
        self._done.set()

    async def _teardown(self) -> int:
        outcome = self._outcome
        assert outcome is not None
        if self._consent is not None:
            self._consent.handle(AgentStopping())
        if self._stream is not None:
            self._stream.close()
        # A record whose sequence number is taken but whose frame is not yet written
        # must not be cut off by the cancel below: the goodbye would then arrive after
        # a gap and the console would report a broken channel instead of the end. So
        # the record being sent finishes first (the closed stream sends no next one),
        # and the lock is kept until the goodbye is out.
        records_intact = await self._hold_send_lock()
        try:
            current = asyncio.current_task()
            for task in self._tasks:
                if task is not current:
                    task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if outcome.tell_peers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self._say_goodbye(outcome.reason, in_channel=records_intact),
                        limits.AGENT_END_GRACE,
                    )
        finally:
            if records_intact:
                self._lock.release()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.close(), limits.CLOSE_TIMEOUT)
        if self._e2e is not None:
            self._e2e.destroy()
        self._ui.notify(outcome.message)
        return outcome.code

    async def _hold_send_lock(self) -> bool:
        """Take the send lock within the grace time; False if a send is stuck."""
        try:
            await asyncio.wait_for(self._lock.acquire(), limits.AGENT_END_GRACE)
        except TimeoutError:
            return False
        return True

    async def _say_goodbye(self, reason: str, *, in_channel: bool) -> None:
        """Tell the console (in the channel, with the send lock held) and the server."""
        if in_channel and self._e2e is not None and self._e2e.established:
            end = {"type": "end", "by": "customer", "reason": reason}
            # A broken channel must not keep the server from hearing the end.
            with contextlib.suppress(TasukeError):
                self._e2e.send(CHANNEL_CONTROL, json.dumps(end).encode())
                await self._flush()
        await self._ws.send(json.dumps({"type": "end", "reason": reason}))

    def _say(self, text: str) -> None:
        self._deps.err.write(text + "\n")
        self._deps.err.flush()

    # --- control plane ------------------------------------------------------

    async def _receive_welcome(self) -> Grant:
        raw = await asyncio.wait_for(self._ws.recv(), limits.HELLO_TIMEOUT)
        message = parse_server_text(raw)
        if message["type"] == "error":
            raise RemoteError(server_error_text(message))
        if message["type"] != "welcome":
            raise ProtocolError(f"expected welcome, got {clean_text(message['type'], 40)}")
        try:
            return verify_welcome(message, now=self._deps.wall_clock())
        except RemoteError as exc:
            raise RemoteError(refused_text(exc.reason)) from exc

    async def _read_loop(self) -> None:
        async for raw in self._ws:
            if isinstance(raw, str):
                await self._on_text(raw)
            else:
                await self._on_binary(raw)
        self._finish(
            1, "サーバーが接続を閉じました / The server closed the connection.", tell_peers=False
        )

    async def _on_text(self, raw: str) -> None:
        message = parse_server_text(raw)
        kind = message["type"]
        if kind == "waiting":
            return
        if kind == "peer_joined":
            await self._start_handshake()
        elif kind == "session_ended":
            event = RemoteEnd(
                "server", str(message.get("by", "server")), str(message.get("reason", ""))
            )
            self._on_remote_end(event)
        elif kind == "error":
            self._finish(1, server_error_text(message), tell_peers=False)
        elif kind == "consent":
            # The server echoing a decision changes nothing here: see consent.py.
            self._ignore(RemoteConsentClaim("server", str(message.get("decision")), None))
        else:
            raise ProtocolError(f"unknown message type from the server: {clean_text(kind, 40)}")

    def _on_remote_end(self, event: RemoteEnd) -> None:
        # The peer cannot move consent; the agent decides, locally, to stop. Only what
        # the peer said names who ended it (parse_control makes a console end the
        # operator's; the server's `by` is its own record).
        self._finish(0, ended_text(event.by, clean_text(event.reason, 100)), tell_peers=False)

    def _ignore(self, event: RemoteEvent) -> None:
        """Remote events are never handed to Consent; this is where they stop."""
        del event

    # --- data plane ---------------------------------------------------------

    async def _start_handshake(self) -> None:
        if self._e2e is not None or self._grant is None:
            raise ProtocolError("peer_joined received twice")
        self._e2e = self._deps.e2e_factory(bytes.fromhex(self._grant.session_id))
        async with self._lock:
            self._e2e.initiate()
            await self._flush()
        self._spawn(self._handshake_deadline(self._deps.clock() + limits.HANDSHAKE_TIMEOUT))

    async def _handshake_deadline(self, deadline: float) -> None:
        """End the session if the handshake is not complete by ``deadline`` (protocol 2.5)."""
        while self._consent is None:
            now = self._deps.clock()
            if now >= deadline:
                self._finish(
                    1,
                    ended_text("handshake_timeout"),
                    tell_peers=True,
                    reason="handshake_timeout",
                )
                return
            # Short naps: the clock is injected and may jump (tests, suspend and resume).
            await asyncio.sleep(min(0.25, max(0.01, deadline - now)))

    async def _flush(self) -> None:
        assert self._e2e is not None
        for frame in self._e2e.frames_to_send():
            await self._ws.send(frame)

    async def _send_record(self, channel: int, payload: bytes) -> None:
        async with self._lock:
            assert self._e2e is not None
            self._e2e.send(channel, payload)
            await self._flush()

    async def _send_control(self, message: dict[str, Any]) -> None:
        await self._send_record(CHANNEL_CONTROL, json.dumps(message).encode())

    async def _on_binary(self, frame: bytes) -> None:
        if self._e2e is None:
            raise ProtocolError("encrypted data arrived before the operator joined")
        if self._e2e.established:
            # A record only yields events, never frames to send (protocol 2.5), so the
            # reader need not wait behind a screen record being written.
            self._e2e.receive_frame(frame)
        else:
            async with self._lock:
                self._e2e.receive_frame(frame)
                await self._flush()
        for event in self._e2e.events_received():
            if isinstance(event, HandshakeComplete):
                await self._on_handshake_complete(event.sas)
            elif not isinstance(event, ChannelData):
                continue
            elif event.channel == CHANNEL_CONTROL:
                self._on_control(event.data)
            elif event.channel == CHANNEL_RFB and self._stream is not None:
                self._stream.feed(event.data)
            # Channel-1 bytes before a grant and unknown channels are dropped.

    def _on_control(self, payload: bytes) -> None:
        message = parse_control(payload)
        if isinstance(message, MonitorRequest):
            # The console's selector now shows this; if the engine does not show it in the
            # end, the monitor report corrects the selector.
            self._shown = message.index
            if message.index <= len(self._monitors):
                # Only what is captured changes, never the consent; before a grant nothing is
                # captured at all, and the choice applies once the screen engine starts.
                self._monitor.select(message.index)
            else:
                # Chosen from a list the agent has replaced since: nothing to show.
                self._monitor_news.set()
        else:
            self._on_remote_end(message)

    def _monitors_changed(self) -> None:
        """The screen engine applied or refused a choice, or the layout changed (its thread)."""
        loop = self._loop
        if loop is not None:
            # A loop already closed means the session is over: nobody is left to tell.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._monitor_news.set)

    async def _report_monitors(self) -> None:
        """Tell the console when the engine's monitors or choice differ from what it shows."""
        choice = self._monitor
        while True:
            await self._monitor_news.wait()
            self._monitor_news.clear()
            message = monitors_message(choice.monitors, choice.selected)
            if message is None or (message["monitors"], message["selected"]) == (
                self._monitors,
                self._shown,
            ):
                continue
            self._monitors, self._shown = message["monitors"], message["selected"]
            await self._send_control(message)

    async def _on_handshake_complete(self, sas: str) -> None:
        assert self._grant is not None
        info = self._agent_info
        source = self._source
        # Read before the screen engine starts, so no other thread uses the source yet.
        if isinstance(source, Monitors):
            found = source.monitors()
            # The engine's list starts as the one the console is told of, so that only a
            # change is reported.
            self._monitor.monitors = list(found)
            self._monitors = monitor_list(found)
        await self._send_control(
            {
                "type": "info",
                "os": info["os"],
                "hostname": info["hostname"],
                "screen": info["screen"],
                "monitors": self._monitors,
            }
        )
        self._spawn(self._report_monitors())
        self._consent = Consent(
            self._deps.clock, control_offered="control" in self._grant.permissions
        )
        await self._send_control({"type": "consent", "state": "pending", "scope": None})
        self._ui.ask_consent(
            PromptInfo(
                operator=clean_text(self._grant.operator),
                organisation=clean_text(self._grant.organisation),
                sas=sas,
                view_only="control" not in self._grant.permissions,
            )
        )
        self._spawn(self._consent_deadline())

    # --- consent ------------------------------------------------------------

    async def _consent_deadline(self) -> None:
        consent = self._consent
        assert consent is not None
        while consent.state is State.PENDING:
            # Short naps: the clock is injected and may jump (tests, suspend and resume).
            await asyncio.sleep(min(0.25, max(0.01, consent.deadline - self._deps.clock())))
            decision = consent.poll()
            if decision is not None:
                await self._apply(decision)

    async def _ui_loop(self) -> None:
        while True:
            event = await self._events.get()
            consent = self._consent
            if consent is None:
                continue  # no prompt is shown yet, so there is nothing to answer
            decision = consent.handle(event)
            if decision is not None:
                await self._apply(decision)
            elif consent.state is State.ENDED:
                self._finish(
                    0,
                    ended_text("customer"),
                    tell_peers=True,
                    reason="the customer ended the session",
                )

    async def _apply(self, decision: Decision) -> None:
        consent = self._consent
        grant = self._grant
        assert consent is not None
        assert grant is not None
        await self._ws.send(
            json.dumps(
                {
                    "type": "consent",
                    "decision": decision.decision,
                    "scope": decision.scope,
                    "reason": decision.reason,
                }
            )
        )
        await self._send_control(
            {"type": "consent", "state": decision.decision, "scope": decision.scope}
        )
        if decision.decision == "denied":
            self._finish(
                0,
                ended_text("denied"),
                tell_peers=True,
                reason="the customer denied the connection",
            )
            return
        assert decision.scope is not None
        self._ui.show_session(SessionInfo(clean_text(grant.operator), decision.scope))
        self._start_rfb(consent, decision.scope)

    def _start_rfb(self, consent: Consent, scope: str) -> None:
        if self._rfb_started:
            return
        self._rfb_started = True
        self._stream = ChannelStream(
            lambda chunk: self._send_record(CHANNEL_RFB, chunk), consent.may_send_screen
        )
        sink = self._sink if scope == "control" else None
        name = str(self._agent_info.get("hostname", "tasuke"))
        self._spawn(self._serve(self._stream, sink, name, consent))

    async def _serve(
        self, stream: ChannelStream, sink: InputSink | None, name: str, consent: Consent
    ) -> None:
        await self._deps.serve_rfb(
            stream,
            self._source,
            sink,
            name=name,
            input_allowed=consent.may_inject_input,
            monitor=self._monitor,
        )
        # The stream ending says nothing about who ended the session: an end from the
        # operator arrives as a message (and was handled first); this is not one.
        self._finish(0, ended_text("ended"), tell_peers=True, reason="screen stream ended")
