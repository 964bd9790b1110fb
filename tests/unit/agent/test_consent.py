"""The consent state machine: only the customer's own choices move it."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasuke import limits
from tasuke.agent import consent as c
from tasuke.errors import LocalError

LOCAL_EVENTS = [
    c.AllowControl(),
    c.AllowView(),
    c.Deny(),
    c.WindowClosed(),
    c.EndSession(),
    c.TimedOut(),
    c.AgentStopping(),
    c.PromptOpened(),
    c.PromptClosed(),
]
REMOTE_EVENTS = [
    c.RemoteConsentClaim("console", "granted", "control"),
    c.RemoteConsentClaim("console", "granted", "view"),
    c.RemoteConsentClaim("server", "granted", "control"),
    c.RemoteEnd("console", "operator", "bye"),
    c.RemoteEnd("server", "server", "timeout"),
    c.RemoteInput("console"),
    c.RemoteEvent("console"),
]

# How to reach each state from PENDING with local events.
PATHS = {
    c.State.PENDING: [],
    c.State.GRANTED_CONTROL: [c.AllowControl()],
    c.State.GRANTED_VIEW: [c.AllowView()],
    c.State.DENIED: [c.Deny()],
    c.State.ENDED: [c.AllowControl(), c.EndSession()],
}

# The whole expected table, written out independently of consent.py.
EXPECTED = {
    (c.State.PENDING, c.AllowControl): (c.State.GRANTED_CONTROL, ("granted", "control", "user")),
    (c.State.PENDING, c.AllowView): (c.State.GRANTED_VIEW, ("granted", "view", "user")),
    (c.State.PENDING, c.Deny): (c.State.DENIED, ("denied", None, "user")),
    (c.State.PENDING, c.WindowClosed): (c.State.DENIED, ("denied", None, "window_closed")),
    (c.State.PENDING, c.TimedOut): (c.State.DENIED, ("denied", None, "timeout")),
    (c.State.PENDING, c.AgentStopping): (c.State.ENDED, None),
    (c.State.GRANTED_CONTROL, c.EndSession): (c.State.ENDED, None),
    (c.State.GRANTED_CONTROL, c.WindowClosed): (c.State.ENDED, None),
    (c.State.GRANTED_CONTROL, c.AgentStopping): (c.State.ENDED, None),
    (c.State.GRANTED_VIEW, c.EndSession): (c.State.ENDED, None),
    (c.State.GRANTED_VIEW, c.WindowClosed): (c.State.ENDED, None),
    (c.State.GRANTED_VIEW, c.AgentStopping): (c.State.ENDED, None),
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def machine_in(state: c.State, clock: FakeClock | None = None) -> c.Consent:
    m = c.Consent(clock or FakeClock())
    for event in PATHS[state]:
        m.handle(event)
    assert m.state is state
    return m


def permissions(m: c.Consent) -> tuple[bool, bool]:
    return m.may_send_screen(), m.may_inject_input()


@pytest.mark.parametrize(("state", "event"), list(itertools.product(PATHS, LOCAL_EVENTS)), ids=str)
def test_every_local_event_in_every_state_follows_the_table(
    state: c.State, event: c.LocalEvent
) -> None:
    m = machine_in(state)
    decision = m.handle(event)
    next_state, expected = EXPECTED.get((state, type(event)), (state, None))
    assert m.state is next_state
    if expected is None:
        assert decision is None
    else:
        assert decision == c.Decision(*expected)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(PATHS, REMOTE_EVENTS)), ids=str)
def test_remote_events_are_refused_in_every_state(state: c.State, event: c.RemoteEvent) -> None:
    m = machine_in(state)
    before = (m.state, permissions(m))
    with pytest.raises(LocalError, match="only follows local events"):
        m.handle(event)  # type: ignore[arg-type]
    assert (m.state, permissions(m)) == before


def test_a_subclass_of_a_local_event_does_not_count_as_local() -> None:
    class Sneaky(c.AllowControl):
        pass

    m = c.Consent(FakeClock())
    with pytest.raises(LocalError):
        m.handle(Sneaky())
    assert m.state is c.State.PENDING


@given(st.lists(st.sampled_from(LOCAL_EVENTS + REMOTE_EVENTS), max_size=30))
def test_interleaved_remote_events_never_change_anything(events: list[object]) -> None:
    m = c.Consent(FakeClock())
    for event in events:
        before = (m.state, permissions(m), m.scope)
        if isinstance(event, c.RemoteEvent):
            with pytest.raises(LocalError):
                m.handle(event)  # type: ignore[arg-type]
            assert (m.state, permissions(m), m.scope) == before
        else:
            assert isinstance(event, c.LocalEvent)
            m.handle(event)


def test_nothing_is_allowed_before_the_customer_answers() -> None:
    m = c.Consent(FakeClock())
    assert permissions(m) == (False, False)
    assert m.scope is None


def test_control_allows_screen_and_input() -> None:
    m = machine_in(c.State.GRANTED_CONTROL)
    assert permissions(m) == (True, True)
    assert m.scope == "control"


def test_view_only_never_allows_input() -> None:
    m = machine_in(c.State.GRANTED_VIEW)
    assert permissions(m) == (True, False)
    assert m.scope == "view"
    m.handle(c.PromptOpened())
    m.handle(c.PromptClosed())
    assert permissions(m) == (True, False)


@pytest.mark.parametrize("state", [c.State.DENIED, c.State.ENDED])
def test_nothing_is_allowed_after_deny_or_end(state: c.State) -> None:
    m = machine_in(state)
    assert permissions(m) == (False, False)
    for event in LOCAL_EVENTS:
        m.handle(event)
        assert permissions(m) == (False, False)


def test_an_open_prompt_suspends_input_until_every_prompt_closes() -> None:
    m = machine_in(c.State.GRANTED_CONTROL)
    m.handle(c.PromptOpened())
    m.handle(c.PromptOpened())
    assert permissions(m) == (True, False)
    m.handle(c.PromptClosed())
    assert permissions(m) == (True, False)
    m.handle(c.PromptClosed())
    assert permissions(m) == (True, True)


def test_a_prompt_opened_before_the_grant_still_suspends_input_after_it() -> None:
    m = c.Consent(FakeClock())
    m.handle(c.PromptOpened())
    m.handle(c.AllowControl())
    assert permissions(m) == (True, False)
    m.handle(c.PromptClosed())
    assert permissions(m) == (True, True)


def test_unanswered_prompt_times_out_to_deny() -> None:
    clock = FakeClock()
    m = c.Consent(clock)
    assert m.deadline == clock.now + limits.CONSENT_TIMEOUT
    clock.now += limits.CONSENT_TIMEOUT - 0.001
    assert m.poll() is None
    assert m.state is c.State.PENDING
    clock.now += 0.001
    assert m.poll() == c.Decision("denied", None, "timeout")
    assert m.state is c.State.DENIED
    assert m.handle(c.AllowControl()) is None
    assert permissions(m) == (False, False)


def test_timeout_does_not_touch_a_granted_session() -> None:
    clock = FakeClock()
    m = machine_in(c.State.GRANTED_CONTROL, clock)
    clock.now += limits.CONSENT_TIMEOUT * 10
    assert m.poll() is None
    assert m.state is c.State.GRANTED_CONTROL


def test_view_only_grant_cannot_be_answered_with_control() -> None:
    m = c.Consent(FakeClock(), control_offered=False)
    assert m.handle(c.AllowControl()) is None
    assert m.state is c.State.PENDING
    assert m.handle(c.AllowView()) == c.Decision("granted", "view", "user")
    assert permissions(m) == (True, False)
