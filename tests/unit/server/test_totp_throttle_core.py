"""The sans-I/O pieces of sign-in: TOTP codes, recovery codes, networks, throttles, challenges."""

import os

import pytest

from tasuke import limits
from tasuke.errors import Refused
from tasuke.server.security import totp
from tasuke.server.security.throttle import FailureDelay, LoginThrottle, network_key
from tasuke.server.security.webauthn_rp import Challenges
from tests.support.server import FakeClock

# RFC 6238 appendix B: the SHA-1 secret "12345678901234567890", 8 digits.
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_totp_matches_the_rfc_6238_vectors() -> None:
    import pyotp

    app = pyotp.TOTP(RFC_SECRET, digits=8)
    assert app.at(59) == "94287082"
    assert app.at(1111111109) == "07081804"
    # Our 6-digit codes are the same HOTP values cut to six digits.
    assert totp.totp_code(RFC_SECRET, 59) == "287082"


def test_a_code_is_accepted_once_and_within_one_step_of_drift() -> None:
    secret = totp.new_totp_secret(os.urandom)
    now = 1_800_000_000.0
    code = totp.totp_code(secret, now)
    step = totp.verify_totp(secret, code, now, last_step=0)
    assert step == int(now) // limits.TOTP_STEP
    # The same code again (same step) is a replay.
    assert totp.verify_totp(secret, code, now, last_step=step) is None
    # A code from the previous step still works if that step was never used (clock drift)...
    earlier = totp.totp_code(secret, now - limits.TOTP_STEP)
    assert totp.verify_totp(secret, earlier, now, last_step=0) == step - 1
    # ...but not two steps away.
    old = totp.totp_code(secret, now - 2 * limits.TOTP_STEP)
    assert totp.verify_totp(secret, old, now, last_step=0) is None
    for bad in ("", "12345", "abcdef", "1234567", "1" * 1000):
        assert totp.verify_totp(secret, bad, now, last_step=0) is None
    # People type spaces and dashes.
    spaced = f"{code[:3]} {code[3:]}"
    assert totp.verify_totp(secret, spaced, now, last_step=0) == step


def test_recovery_codes_are_random_and_stored_hashed() -> None:
    codes = totp.new_recovery_codes(os.urandom)
    assert len(codes) == limits.RECOVERY_CODES
    assert len(set(codes)) == len(codes)
    assert all(len(c.replace("-", "")) == 16 for c in codes)
    hashed = totp.hash_recovery_code(codes[0])
    assert codes[0] not in hashed
    # Typing it in upper case or without dashes is the same code.
    assert totp.hash_recovery_code(codes[0].upper().replace("-", "")) == hashed


def test_qr_code_is_plain_svg() -> None:
    svg = totp.qr_svg(totp.provisioning_uri(RFC_SECRET, "sato", "Example Co"))
    text = svg.decode()
    assert "<svg" in text
    assert 'xmlns="http://www.w3.org/2000/svg"' in text
    assert "<script" not in text
    assert "style=" not in text


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("192.0.2.1", "net:192.0.2.0/24"),
        ("192.0.2.254", "net:192.0.2.0/24"),
        ("::ffff:192.0.2.9", "net:192.0.2.0/24"),
        ("2001:db8:1:2:3:4:5:6", "net:2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "net:2001:db8:1:2::/64"),
        ("testclient", "net:testclient"),
        (None, "net:unknown"),
    ],
)
def test_failures_count_per_network(address: str | None, network: str) -> None:
    assert network_key(address) == network


def test_account_delay_applies_from_any_address() -> None:
    throttle = LoginThrottle()
    for i in range(limits.LOGIN_FREE_FAILURES):
        throttle.failed("sato", True, f"198.51.{i}.1", 0.0)
    assert throttle.wait_time("sato", True, "203.0.113.50", 0.0) == limits.LOGIN_FAILURE_BASE_DELAY
    # Other accounts from other networks are not slowed down.
    assert throttle.wait_time("suzuki", True, "203.0.113.50", 0.0) == 0


def test_invented_user_names_cannot_flush_a_real_accounts_count() -> None:
    throttle = LoginThrottle(lambda: FailureDelay(max_keys=5))
    for _ in range(limits.LOGIN_FREE_FAILURES):
        throttle.failed("sato", True, "198.51.100.1", 0.0)
    for i in range(50):
        throttle.failed(f"invented{i}", False, f"203.0.{i}.1", 0.0)
    assert throttle.wait_time("sato", True, "192.0.2.1", 0.0) > 0


def test_network_count_survives_a_successful_sign_in() -> None:
    throttle = LoginThrottle()
    for i in range(limits.LOGIN_FREE_FAILURES):
        throttle.failed(f"victim{i}", False, "198.51.100.1", 0.0)
    throttle.succeeded("attackers-own-account")
    assert throttle.wait_time("anyone", False, "198.51.100.2", 0.0) > 0


def test_webauthn_challenges_are_single_use_and_expire() -> None:
    clock = FakeClock()
    challenges = Challenges(clock, os.urandom, ttl=10, capacity=2)
    first = challenges.new("session-a", "signin")
    assert challenges.take("session-a", "signin") == first
    with pytest.raises(Refused):
        challenges.take("session-a", "signin")
    challenges.new("session-a", "signin")
    with pytest.raises(Refused):
        challenges.take("session-b", "signin")  # another sign-in's challenge is not yours
    clock.advance(10)
    with pytest.raises(Refused):
        challenges.take("session-a", "signin")
    for name in "abc":
        challenges.new(name, "register")
    with pytest.raises(Refused):
        challenges.take("a", "register")  # the oldest was dropped at capacity
