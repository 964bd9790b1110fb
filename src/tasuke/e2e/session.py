"""E2ESession: the sans-I/O end-to-end channel between an agent and a console.

Feed each binary WebSocket frame from the peer to :meth:`E2ESession.receive_frame`, then write
:meth:`E2ESession.frames_to_send` to the socket and act on :meth:`E2ESession.events_received`.
Nothing here does I/O, sleeps or reads a clock; the adapter enforces ``HANDSHAKE_TIMEOUT``.

Every failure raises :class:`~tasuke.errors.E2EError` and kills the session: keys are wiped,
queued frames and events are dropped and every later call raises.
"""

import hmac
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from cryptography.exceptions import InvalidTag

from tasuke import limits
from tasuke.e2e import keyschedule, wire
from tasuke.e2e._state import Action, Role, State, StateMachine
from tasuke.e2e.events import ChannelData, Event, HandshakeComplete
from tasuke.e2e.records import RecordLayer
from tasuke.e2e.suites import KeyPair, generate_key_pair
from tasuke.e2e.wire import MessageType, Suite
from tasuke.errors import E2EError

__all__ = ["DEFAULT_SUITES", "E2ESession"]

DEFAULT_SUITES: tuple[Suite, ...] = (Suite.X25519, Suite.P256)
"""What a session offers (agent) or accepts (console) unless told otherwise, preferred first."""


class E2ESession:
    """One end of the end-to-end channel: handshake, key confirmation, then records.

    Args:
        role: ``Role.AGENT`` starts the handshake with :meth:`initiate`; ``Role.CONSOLE``
            answers.
        session_id: the 16 bytes whose hex is the server's ``session_id``; bound into the
            transcript and every record's AAD.
        rng: source of the ephemeral private keys; injected so tests are deterministic.
        suites: suites this side supports, in its order of preference.

    Raises:
        E2EError: the session id is not 16 bytes or ``suites`` is empty or repeats a suite.
    """

    def __init__(
        self,
        role: Role,
        session_id: bytes,
        *,
        rng: Callable[[int], bytes] = os.urandom,
        suites: Iterable[Suite] = DEFAULT_SUITES,
    ) -> None:
        if len(session_id) != wire.SESSION_ID_LENGTH:
            raise E2EError("session id must be 16 bytes")
        try:
            self._suites = tuple(Suite(s) for s in suites)
        except ValueError:
            raise E2EError("unknown suite") from None
        if not self._suites or len(set(self._suites)) != len(self._suites):
            raise E2EError("suites must be non-empty and distinct")
        self._role = role
        self._session_id = bytes(session_id)
        self._rng = rng
        self._machine = StateMachine(role)
        self._outgoing: list[bytes] = []
        self._events: list[Event] = []
        self._key_pairs: dict[Suite, KeyPair] = {}
        self._commit_frame = b""
        self._commitments: dict[int, bytes] = {}
        self._suite: Suite | None = None
        self._schedule: keyschedule.KeySchedule | None = None
        self._records: RecordLayer | None = None
        self._sas: str | None = None
        self._handlers: dict[MessageType, Callable[[bytes], None]] = {
            MessageType.COMMIT: self._on_commit,
            MessageType.ACCEPT: self._on_accept,
            MessageType.REVEAL: self._on_reveal,
            MessageType.CONFIRM: self._on_confirm,
            MessageType.RECORD: self._on_record,
        }

    # --- public surface ------------------------------------------------------------------

    @property
    def role(self) -> Role:
        """Which end this session is."""
        return self._role

    @property
    def established(self) -> bool:
        """True once key confirmation succeeded and until the session dies."""
        return self._machine.state is State.ESTABLISHED

    @property
    def sas(self) -> str | None:
        """The 6-digit verification code once established, else None."""
        return self._sas if self.established else None

    @property
    def suite(self) -> Suite | None:
        """The negotiated suite, once known."""
        return self._suite

    def initiate(self) -> None:
        """Agent only: generate a key pair per offered suite and queue the Commit.

        Raises:
            E2EError: called by a console, called twice, or on a dead session.
        """
        with self._fatal():
            self._machine.advance(Action.INITIATE)
            offers = []
            for suite in self._suites:
                pair = generate_key_pair(suite, self._rng)
                self._key_pairs[suite] = pair
                offers.append((suite, keyschedule.commitment(suite, pair.public)))
            self._commit_frame = wire.encode_commit(offers)
            self._outgoing.append(self._commit_frame)

    def receive_frame(self, frame: bytes) -> None:
        """Process one binary frame from the peer.

        Raises:
            E2EError: anything wrong with the frame or its place in the protocol; the session
                is dead afterwards.
        """
        with self._fatal():
            if not frame:
                raise E2EError("empty frame")
            kind = frame[0]
            if kind != MessageType.RECORD and len(frame) > limits.MAX_HANDSHAKE_MESSAGE:
                raise E2EError("handshake message too large")
            try:
                message_type = MessageType(kind)
            except ValueError:
                raise E2EError(f"unknown message type {kind}") from None
            self._machine.advance(message_type)
            self._handlers[message_type](bytes(frame))

    def send(self, channel: int, payload: bytes) -> None:
        """Encrypt ``payload`` for ``channel`` and queue the record.

        Raises:
            E2EError: not established yet, unknown channel, or channel byte + payload larger
                than ``limits.MAX_RECORD_PLAINTEXT``; the session is dead afterwards.
        """
        with self._fatal():
            self._machine.advance(Action.SEND)
            if channel not in wire.CHANNELS:
                raise E2EError(f"unknown channel {channel}")
            if 1 + len(payload) > limits.MAX_RECORD_PLAINTEXT:
                raise E2EError("record payload too large")
            assert self._records is not None
            self._outgoing.append(self._records.seal(bytes([channel]) + payload))

    def frames_to_send(self) -> list[bytes]:
        """Return and forget the frames queued for the peer, in order.

        Raises:
            E2EError: the session is dead.
        """
        self._check_alive()
        frames, self._outgoing = self._outgoing, []
        return frames

    def events_received(self) -> list[Event]:
        """Return and forget the events produced so far, in order.

        Raises:
            E2EError: the session is dead.
        """
        self._check_alive()
        events, self._events = self._events, []
        return events

    def destroy(self) -> None:
        """Wipe every key and end the session; idempotent. Later calls raise E2EError."""
        self._machine.kill()
        self._wipe()

    # --- handlers, one per message type (the state machine already allowed each) ---------

    def _on_commit(self, frame: bytes) -> None:
        commit = wire.parse_commit(frame)
        offered = dict(commit.offers)
        # The agent's order of preference decides among the suites both sides support.
        choice = next((Suite(s) for s, _ in commit.offers if s in self._suites), None)
        if choice is None:
            raise E2EError("no common suite")
        self._commit_frame = frame
        self._commitments = offered
        self._suite = choice
        pair = generate_key_pair(choice, self._rng)
        self._key_pairs[choice] = pair
        self._outgoing.append(wire.encode_accept(choice, pair.public))

    def _on_accept(self, frame: bytes) -> None:
        suite, console_public = wire.parse_accept(frame)
        pair = self._key_pairs.get(suite)
        if pair is None:
            raise E2EError("console chose a suite that was not offered")
        self._suite = suite
        for other in [s for s in self._key_pairs if s is not suite]:
            self._key_pairs.pop(other).wipe()
        self._derive(pair, agent_public=pair.public, console_public=console_public)
        assert self._schedule is not None
        mac = keyschedule.confirmation_mac(
            self._schedule.confirm, self._schedule.transcript_hash, agent=True
        )
        self._outgoing += [wire.encode_reveal(pair.public), wire.encode_confirm(mac)]

    def _on_reveal(self, frame: bytes) -> None:
        assert self._suite is not None
        agent_public = wire.parse_reveal(frame, self._suite)
        expected = self._commitments[self._suite]
        if not hmac.compare_digest(keyschedule.commitment(self._suite, agent_public), expected):
            raise E2EError("agent key does not match its commitment")
        pair = self._key_pairs[self._suite]
        self._derive(pair, agent_public=agent_public, console_public=pair.public)

    def _on_confirm(self, frame: bytes) -> None:
        received = wire.parse_confirm(frame)
        schedule = self._schedule
        assert schedule is not None
        from_agent = self._role is Role.CONSOLE
        expected = keyschedule.confirmation_mac(
            schedule.confirm, schedule.transcript_hash, agent=from_agent
        )
        if not hmac.compare_digest(received, expected):
            raise E2EError("key confirmation failed")
        if self._role is Role.CONSOLE:
            mine = keyschedule.confirmation_mac(
                schedule.confirm, schedule.transcript_hash, agent=False
            )
            self._outgoing.append(wire.encode_confirm(mine))
        agent_side = self._role is Role.AGENT
        self._records = RecordLayer(
            self._session_id,
            send_key=schedule.agent_to_console if agent_side else schedule.console_to_agent,
            send_direction=(
                wire.DIRECTION_AGENT_TO_CONSOLE if agent_side else wire.DIRECTION_CONSOLE_TO_AGENT
            ),
            receive_key=schedule.console_to_agent if agent_side else schedule.agent_to_console,
            receive_direction=(
                wire.DIRECTION_CONSOLE_TO_AGENT if agent_side else wire.DIRECTION_AGENT_TO_CONSOLE
            ),
        )
        self._sas = keyschedule.sas_digits(schedule.sas)
        # The handshake secrets have done their job; only the record keys live on.
        self._schedule = None
        for pair in self._key_pairs.values():
            pair.wipe()
        self._key_pairs.clear()
        self._events.append(HandshakeComplete(sas=self._sas))

    def _on_record(self, frame: bytes) -> None:
        assert self._records is not None
        plaintext = self._records.open(frame)
        channel = plaintext[0]
        if channel not in wire.CHANNELS:
            raise E2EError(f"record for unknown channel {channel}")
        self._events.append(ChannelData(channel, plaintext[1:]))

    # --- helpers -------------------------------------------------------------------------

    def _derive(self, pair: KeyPair, *, agent_public: bytes, console_public: bytes) -> None:
        assert self._suite is not None
        if hmac.compare_digest(agent_public, console_public):
            raise E2EError("peer reflected our own public key")
        shared = pair.exchange(console_public if self._role is Role.AGENT else agent_public)
        transcript = keyschedule.transcript(
            self._session_id, self._commit_frame, self._suite, agent_public, console_public
        )
        self._schedule = keyschedule.derive(shared, transcript)

    def _check_alive(self) -> None:
        if self._machine.state is State.DEAD:
            raise E2EError("the end-to-end session has ended")

    def _wipe(self) -> None:
        for pair in self._key_pairs.values():
            pair.wipe()
        self._key_pairs.clear()
        self._schedule = None
        if self._records is not None:
            self._records.wipe()
        self._records = None
        self._sas = None
        self._outgoing.clear()
        self._events.clear()

    @contextmanager
    def _fatal(self) -> Iterator[None]:
        # The one place where third-party exceptions become E2EError; any failure kills.
        try:
            yield
        except E2EError:
            self.destroy()
            raise
        except (ValueError, InvalidTag) as exc:
            self.destroy()
            raise E2EError("end-to-end failure") from exc
        except BaseException:
            self.destroy()
            raise
