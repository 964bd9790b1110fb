"""Fixes after the security review: parallel guesses against the sign-in throttle, the
password re-entry on the password and Security pages, forms with too many fields, and the
audit trail of throttled and re-entry failures."""

import asyncio
import re

import httpx
import pytest

from tasuke import limits
from tasuke.server.security.totp import totp_code
from tests.support.server import ADMIN_PASSWORD, csrf_from
from tests.unit.server.conftest import AppUnderTest
from tests.unit.server.test_second_factor import enrol_totp, password_step

_NOTICE = re.compile(r"(\d+) failed sign-in attempt\(s\) since your last sign-in")


async def _events(server: AppUnderTest, name: str) -> int:
    return sum(1 for e in await server.state.store.audit.entries() if e.event == name)


def _wrong_code(secret: str, now: float) -> str:
    valid = {totp_code(secret, now + step * limits.TOTP_STEP) for step in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(1000)) if c not in valid)


async def test_thirty_parallel_wrong_passwords_check_only_the_free_allowance(
    admin: AppUnderTest,
) -> None:
    async with admin.new_client("198.51.100.7") as attacker:
        csrf = csrf_from((await attacker.get("/login")).text)
        answers = await asyncio.gather(
            *(
                attacker.post(
                    "/login",
                    data={"username": "admin", "password": f"guess {i}", "csrf_token": csrf},
                )
                for i in range(30)
            )
        )
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) <= limits.LOGIN_FREE_FAILURES
    assert statuses.count(429) == 30 - statuses.count(401)
    assert await _events(admin, "signin.failed") == statuses.count(401)


async def test_thirty_parallel_wrong_totp_codes_check_only_the_free_allowance(
    admin: AppUnderTest,
) -> None:
    async with admin.new_client() as owner:
        await admin.signed_in(owner)
        secret, _ = await enrol_totp(admin, owner)
    async with admin.new_client("198.51.100.8") as thief:
        csrf = await password_step(admin, thief)
        code = _wrong_code(secret, admin.clock.now)
        answers = await asyncio.gather(
            *(thief.post("/login/totp", data={"code": code, "csrf_token": csrf}) for _ in range(30))
        )
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) <= limits.LOGIN_FREE_FAILURES
    assert statuses.count(429) == 30 - statuses.count(401)
    assert await _events(admin, "signin.second_factor_failed") == statuses.count(401)


async def test_an_attempt_in_flight_is_given_back_when_it_succeeds(admin: AppUnderTest) -> None:
    # The right password, many times at once, signs in every time: success is not a failure.
    async with admin.new_client() as owner:
        csrf = csrf_from((await owner.get("/login")).text)
        answers = await asyncio.gather(
            *(
                owner.post(
                    "/login",
                    data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf},
                )
                for _ in range(limits.LOGIN_FREE_FAILURES)
            )
        )
    assert [a.status_code for a in answers] == [303] * limits.LOGIN_FREE_FAILURES
    async with admin.new_client() as again:
        assert (await admin.login(again)).status_code == 303


async def test_changing_the_password_throttles_and_audits_the_current_password(
    admin: AppUnderTest,
) -> None:
    new = "a brand new passphrase 42"
    async with admin.new_client() as thief:
        await admin.signed_in(thief)
        csrf = csrf_from((await thief.get("/password")).text)

        async def change(current: str) -> httpx.Response:
            return await thief.post(
                "/password",
                data={
                    "current_password": current,
                    "password": new,
                    "password2": new,
                    "csrf_token": csrf,
                },
            )

        answers = await asyncio.gather(*(change(f"guess {i}") for i in range(30)))
        wrong = [a for a in answers if "password is wrong" in a.text]
        assert len(wrong) <= limits.LOGIN_FREE_FAILURES
        assert all("Try again in" in a.text for a in answers if a not in wrong)
        # Now even the right current password waits.
        assert "Try again in" in (await change(ADMIN_PASSWORD)).text
    assert await _events(admin, "signin.reauth_failed") == len(wrong)
    assert await _events(admin, "operator.password_changed") == 1  # the fixture's own change


async def test_security_page_password_reentry_is_audited(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        await enrol_totp(admin, client)
        page = await client.get("/account/security")
        removed = await client.post(
            "/account/totp/remove", data={"password": "wrong", "csrf_token": csrf_from(page.text)}
        )
        assert removed.status_code == 400
        assert "password is wrong" in removed.text
    assert await _events(admin, "signin.reauth_failed") == 1


async def test_a_form_with_too_many_fields_gets_a_clear_400(admin: AppUnderTest) -> None:
    async with admin.new_client() as anonymous:
        csrf = csrf_from((await anonymous.get("/login")).text)
        fields = {f"f{i}": "x" for i in range(limits.MAX_FORM_FIELDS + 10)}
        answer = await anonymous.post("/login", data={**fields, "csrf_token": csrf})
        assert answer.status_code == 400
        assert "too many form fields" in answer.json()["detail"]
        # The same client goes on working.
        assert (await admin.login(anonymous)).status_code == 303


async def test_throttled_attempts_are_audited_per_network_and_counted_for_the_owner(
    admin: AppUnderTest,
) -> None:
    async with admin.new_client("198.51.100.9") as attacker:
        statuses = [
            (await admin.login(attacker, password=f"guess {i}")).status_code for i in range(8)
        ]
        assert statuses == [401] * limits.LOGIN_FREE_FAILURES + [429] * (
            8 - limits.LOGIN_FREE_FAILURES
        )
        assert await _events(admin, "signin.throttled") == 1  # once per network per interval
        admin.clock.advance(limits.THROTTLED_AUDIT_INTERVAL)
        while statuses[-1] != 401:  # the interval also ended the wait: one more guess counts
            statuses.append((await admin.login(attacker, password="again")).status_code)
        statuses.append((await admin.login(attacker, password="again")).status_code)
        assert statuses[-1] == 429
        assert await _events(admin, "signin.throttled") == 2
    admin.clock.advance(limits.LOGIN_FAILURE_WINDOW + 1)
    async with admin.new_client() as owner:
        await admin.signed_in(owner)
        notice = _NOTICE.search((await owner.get("/")).text)
        assert notice is not None
        # Wrong passwords and attempts turned away alike.
        assert int(notice.group(1)) == len(statuses)


_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')


async def test_viewing_the_enrolment_page_does_not_restart_it(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        first = await client.get("/account/totp")
        again = await client.get("/account/totp")
        secret = _SECRET.search(first.text)
        assert secret is not None
        same = _SECRET.search(again.text)
        assert same is not None
        assert same.group(1) == secret.group(1)
        assert (await client.get("/account/totp/restart")).status_code == 405
        restarted = await client.post(
            "/account/totp/restart", data={"csrf_token": csrf_from(first.text)}
        )
        assert restarted.headers["location"] == "/account/totp"
        new = _SECRET.search((await client.get("/account/totp")).text)
        assert new is not None
        assert new.group(1) != secret.group(1)


async def _sato(server: AppUnderTest) -> None:
    from tasuke.server.security.passwords import hash_password

    await server.state.store.add_operator("sato")
    operator = await server.state.store.operator_by_username("sato")
    assert operator is not None
    await server.state.store.set_password(operator.id, await hash_password(ADMIN_PASSWORD))


async def test_finishing_enrolment_is_a_full_sign_in(admin: AppUnderTest) -> None:
    await _sato(admin)
    await admin.state.signin.set_setting("require_second_factor", True, "admin")
    for i in range(limits.LOGIN_FREE_FAILURES):
        async with admin.new_client(f"198.51.{i}.30") as attacker:
            assert (await admin.login(attacker, username="sato", password="x")).status_code == 401
    admin.clock.advance(limits.LOGIN_FAILURE_BASE_DELAY)
    async with admin.new_client() as sato:
        assert (await admin.login(sato, username="sato")).headers["location"] == "/account/enrol"
        await enrol_totp(admin, sato)
        notice = _NOTICE.search((await sato.get("/")).text)
        assert notice is not None
        assert int(notice.group(1)) == limits.LOGIN_FREE_FAILURES
    # The account's count was cleared: a fresh allowance of failures, none refused.
    for i in range(limits.LOGIN_FREE_FAILURES):
        async with admin.new_client(f"198.51.{i + 10}.30") as attacker:
            assert (await admin.login(attacker, username="sato", password="x")).status_code == 401


async def test_disabling_stores_the_change_and_its_audit_row_together(
    admin: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasuke.server.admin import audit, operators

    await _sato(admin)

    def broken(row: object) -> str:
        raise RuntimeError("the audit row cannot be written")

    monkeypatch.setattr(audit, "_row_hash", broken)
    with pytest.raises(RuntimeError):
        await operators.disable_operator(admin.state.store, "sato", actor="admin", address=None)
    monkeypatch.undo()
    assert await admin.state.store.operator_by_username("sato") is not None  # still enabled
    await operators.disable_operator(admin.state.store, "sato", actor="admin", address=None)
    assert await admin.state.store.operator_by_username("sato") is None
    assert await _events(admin, "operator.disabled") == 1


async def test_the_cli_resets_the_second_factor_of_a_disabled_operator(
    admin: AppUnderTest,
) -> None:
    from tasuke.server import signin_cli
    from tasuke.server.admin import operators

    await _sato(admin)
    async with admin.new_client() as sato:
        await admin.login(sato, username="sato")
        await enrol_totp(admin, sato)
    operator = await admin.state.store.operator_by_username("sato")
    assert operator is not None
    await operators.disable_operator(admin.state.store, "sato", actor="admin", address=None)
    await signin_cli._reset(admin.settings.data_dir, "sato")
    assert not await admin.state.signin.has_second_factor(operator.id)


def test_attempts_in_flight_count_against_the_free_allowance() -> None:
    from tasuke.server.security.throttle import LoginThrottle

    throttle = LoginThrottle()
    taken = [throttle.attempt("sato", True, "192.0.2.1", 0.0) for _ in range(5)]
    assert [a.wait == 0 for a in taken] == [True] * limits.LOGIN_FREE_FAILURES + [False] * (
        5 - limits.LOGIN_FREE_FAILURES
    )
    for attempt in taken:
        attempt.done()  # every one right: all given back, nothing counted
    assert throttle.wait_time("sato", True, "192.0.2.1", 0.0) == 0
    with throttle.attempt("sato", True, "192.0.2.1", 0.0) as attempt:
        attempt.failed()
        attempt.done()  # after failed(), nothing more happens
    assert throttle.wait_time("sato", True, "192.0.2.1", 0.0) == 0  # one failure is free
