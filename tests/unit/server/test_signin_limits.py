"""Each sign-in limit exceeded once: half-done sign-ins, trusted browsers, WebAuthn sizes and
counts, the ceremony deadline (fake clock)."""

import json

import httpx

from tasuke import limits
from tasuke.server.db.signin_store import REQUIRE_SECOND_FACTOR
from tests.support.server import csrf_from
from tests.unit.server.conftest import AppUnderTest
from tests.unit.server.test_second_factor import enrol_totp, password_step


async def _admin_id(server: AppUnderTest) -> int:
    operator = await server.state.store.operator_by_username("admin")
    assert operator is not None
    return operator.id


async def test_half_signed_in_session_expires(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        await enrol_totp(admin, client)
    async with admin.new_client() as client:
        await password_step(admin, client)
        admin.clock.advance(limits.SECOND_FACTOR_TIMEOUT)
        assert (await client.get("/login/second-factor")).headers["location"].startswith("/login")


async def test_enrolment_stage_expires(admin: AppUnderTest) -> None:
    await admin.state.signin.set_setting(REQUIRE_SECOND_FACTOR, True, "test")
    async with admin.new_client() as client:
        assert (await admin.login(client)).headers["location"] == "/account/enrol"
        admin.clock.advance(limits.ENROL_TIMEOUT - limits.SESSION_TOUCH_INTERVAL)
        assert (await client.get("/account/enrol")).status_code == 200
        admin.clock.advance(limits.SESSION_TOUCH_INTERVAL)
        assert (await client.get("/account/enrol")).headers["location"].startswith("/login")


async def test_trusted_browser_expires_after_the_configured_days(admin: AppUnderTest) -> None:
    operator_id = await _admin_id(admin)
    token = await admin.state.signin.trust_browser(operator_id, "Firefox on Linux", None)
    assert await admin.state.signin.is_trusted(operator_id, token)
    assert not await admin.state.signin.is_trusted(operator_id + 1, token)  # not another's
    admin.clock.advance(limits.TRUSTED_BROWSER_DAYS * 86400)
    assert not await admin.state.signin.is_trusted(operator_id, token)
    assert await admin.state.signin.trusted_browsers(operator_id) == []


async def test_trusting_too_many_browsers_forgets_the_oldest(admin: AppUnderTest) -> None:
    operator_id = await _admin_id(admin)
    tokens = []
    for i in range(limits.MAX_TRUSTED_BROWSERS + 1):
        tokens.append(await admin.state.signin.trust_browser(operator_id, f"browser {i}", None))
        admin.clock.advance(1)
    assert len(await admin.state.signin.trusted_browsers(operator_id)) == (
        limits.MAX_TRUSTED_BROWSERS
    )
    assert not await admin.state.signin.is_trusted(operator_id, tokens[0])
    assert await admin.state.signin.is_trusted(operator_id, tokens[-1])


async def test_too_many_security_keys_are_refused(admin: AppUnderTest) -> None:
    operator_id = await _admin_id(admin)
    signin = admin.state.signin
    for i in range(limits.MAX_WEBAUTHN_CREDENTIALS):
        assert await signin.add_webauthn(operator_id, bytes([i]) * 16, b"key", 0, f"key {i}")
    assert not await signin.add_webauthn(operator_id, b"\xff" * 16, b"key", 0, "one more")
    # The same credential id cannot be registered twice either.
    assert await signin.remove_webauthn(
        operator_id, (await signin.webauthn_credentials(operator_id))[0].id
    )
    assert not await signin.add_webauthn(operator_id, bytes([1]) * 16, b"key", 0, "again")
    async with admin.new_client() as client:
        await password_step(admin, client)  # the keys make a second factor
        csrf = csrf_from((await client.get("/login/second-factor")).text)
        options = await client.post("/login/webauthn/options", headers={"X-CSRF-Token": csrf})
        assert options.status_code == 200
        body = options.json()
        assert body["rpId"] == "testserver"
        assert len(body["allowCredentials"]) == limits.MAX_WEBAUTHN_CREDENTIALS - 1


async def _half_signed_in_with_key(admin: AppUnderTest, client: httpx.AsyncClient) -> str:
    await admin.state.signin.add_webauthn(await _admin_id(admin), b"\x01" * 16, b"key", 0, "k")
    await password_step(admin, client)
    return csrf_from((await client.get("/login/second-factor")).text)


async def test_oversized_webauthn_answer_is_refused(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await _half_signed_in_with_key(admin, client)
        big = json.dumps({"credential": {"id": "A" * limits.MAX_WEBAUTHN_RESPONSE}})
        response = await client.post(
            "/login/webauthn/verify",
            content=big,
            headers={"X-CSRF-Token": csrf, "content-type": "application/json"},
        )
        assert response.status_code == 400
        for junk in (b"not json", b"[]", b'{"credential": 5}'):
            bad = await client.post(
                "/login/webauthn/verify", content=junk, headers={"X-CSRF-Token": csrf}
            )
            assert bad.status_code == 400
        assert (await client.get("/")).headers["location"] == "/login/second-factor"


async def test_webauthn_challenge_expires(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await _half_signed_in_with_key(admin, client)
        headers = {"X-CSRF-Token": csrf}
        assert (await client.post("/login/webauthn/options", headers=headers)).status_code == 200
        admin.clock.advance(limits.WEBAUTHN_CEREMONY_TTL)
        late = await client.post(
            "/login/webauthn/verify",
            json={"credential": {"id": "AQ", "rawId": "AQ", "type": "public-key"}},
            headers=headers,
        )
        assert late.status_code == 401
        assert "start again" in late.json()["detail"]
