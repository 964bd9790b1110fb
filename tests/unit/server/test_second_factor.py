"""Two-factor sign-in over ASGI: TOTP enrolment, codes, recovery codes, the half-signed-in
session, trusted browsers and the admin's requirement. The authenticator app is
:func:`totp_code` on the test's fake clock."""

import re

import httpx
import pytest
from fastapi.routing import APIWebSocketRoute
from starlette.routing import Mount, Route

from tasuke import limits
from tasuke.server.security.middleware import SECOND_FACTOR_PATHS
from tasuke.server.security.passwords import hash_password
from tasuke.server.security.totp import totp_code
from tests.support.server import ADMIN_PASSWORD, csrf_from
from tests.unit.server.conftest import AppUnderTest
from tests.unit.server.test_web import _all_routes

_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')
_CODES = re.compile(r"<li><code>([a-z2-7-]+)</code></li>")


async def enrol_totp(server: AppUnderTest, client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """Turn on TOTP for the signed-in client; return the secret and the recovery codes."""
    page = await client.get("/account/totp")
    assert page.status_code == 200, page.text
    match = _SECRET.search(page.text)
    assert match is not None
    secret = match.group(1).replace(" ", "")
    qr = await client.get("/account/totp/qr.svg")
    assert qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.headers["cache-control"] == "no-store"
    done = await client.post(
        "/account/totp/confirm",
        data={"code": totp_code(secret, server.clock.now), "csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 200, done.text
    codes = _CODES.findall(done.text)
    assert len(codes) == limits.RECOVERY_CODES
    return secret, codes


def session_cookie(client: httpx.AsyncClient) -> str | None:
    return client.cookies.get("tasuke_session")


async def password_step(server: AppUnderTest, client: httpx.AsyncClient) -> str:
    """Sign in with the password; expect the second-factor page; return its CSRF token."""
    response = await server.login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/login/second-factor"
    page = await client.get("/login/second-factor")
    assert page.status_code == 200
    assert "Confirm it is you" in page.text
    return csrf_from(page.text)


async def test_totp_enrolment_and_sign_in(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        wrong = await client.get("/account/totp")
        bad = await client.post(
            "/account/totp/confirm", data={"code": "000000", "csrf_token": csrf_from(wrong.text)}
        )
        assert bad.status_code == 400
        assert "not right" in bad.text
        secret, _codes = await enrol_totp(admin, client)
        security = await client.get("/account/security")
        assert "Recovery codes left: 10" in security.text
    admin.clock.advance(limits.TOTP_STEP)
    async with admin.new_client() as client:
        csrf = await password_step(admin, client)
        pending = session_cookie(client)
        refused = await client.post("/login/totp", data={"code": "123456", "csrf_token": csrf})
        assert refused.status_code == 401
        assert "not right" in refused.text
        done = await client.post(
            "/login/totp",
            data={"code": totp_code(secret, admin.clock.now), "csrf_token": csrf},
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/"
        # The cookie was rotated when the second factor completed the sign-in.
        assert session_cookie(client) not in (None, pending)
        assert (await client.get("/")).status_code == 200
    # The half-done session's cookie is dead.
    async with admin.new_client() as stale:
        stale.cookies.set("tasuke_session", pending or "")
        assert (await stale.get("/")).headers["location"].startswith("/login")
    # Each step is in the audit log (and its chain still holds).
    entries = await admin.state.store.audit.entries()
    events = [(e.event, e.actor, e.subject) for e in entries]
    assert ("second_factor.totp_enabled", "admin", "admin") in events
    assert ("signin.password_ok", "admin", "admin") in events
    assert ("signin.second_factor_failed", None, "admin") in events
    assert any(e.event == "signin.ok" and '"method":"totp"' in e.details for e in entries)
    assert (await admin.state.store.audit.verify()).ok


async def test_totp_code_replay_is_refused(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        secret, _ = await enrol_totp(admin, client)
    code = totp_code(secret, admin.clock.now)
    async with admin.new_client() as client:
        csrf = await password_step(admin, client)
        # The code that confirmed the enrolment was spent then.
        again = await client.post("/login/totp", data={"code": code, "csrf_token": csrf})
        assert again.status_code == 401
    admin.clock.advance(limits.TOTP_STEP)
    fresh = totp_code(secret, admin.clock.now)
    async with admin.new_client() as first:
        csrf = await password_step(admin, first)
        ok = await first.post("/login/totp", data={"code": fresh, "csrf_token": csrf})
        assert ok.status_code == 303
    async with admin.new_client() as second:
        csrf = await password_step(admin, second)
        replay = await second.post("/login/totp", data={"code": fresh, "csrf_token": csrf})
        assert replay.status_code == 401
        assert (await second.get("/")).headers["location"] == "/login/second-factor"


async def test_recovery_code_works_once(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        _, codes = await enrol_totp(admin, client)
    async with admin.new_client() as client:
        csrf = await password_step(admin, client)
        ok = await client.post("/login/recovery", data={"code": codes[3], "csrf_token": csrf})
        assert ok.status_code == 303
        assert "Recovery codes left: 9" in (await client.get("/account/security")).text
    async with admin.new_client() as client:
        csrf = await password_step(admin, client)
        used = await client.post("/login/recovery", data={"code": codes[3], "csrf_token": csrf})
        assert used.status_code == 401
        typed = codes[4].upper().replace("-", " ")
        other = await client.post("/login/recovery", data={"code": typed, "csrf_token": csrf})
        assert other.status_code == 303


async def test_half_signed_in_session_can_do_nothing_else(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        await enrol_totp(admin, client)
    operator = await admin.state.store.operator_by_username("admin")
    assert operator is not None
    support = await admin.state.store.create_session(operator.id)
    async with admin.new_client() as client:
        csrf = await password_step(admin, client)
        headers = {"X-CSRF-Token": csrf}
        ticket = await client.post(f"/api/sessions/{support.id}/ticket", headers=headers)
        assert ticket.status_code == 403
        assert ticket.json()["detail"] == "second factor required"
        assert "ticket" not in ticket.text.replace('"detail"', "")
        checked = 0
        for full_path, route in _all_routes(admin.app.routes):
            if isinstance(route, Mount | APIWebSocketRoute):
                continue
            assert isinstance(route, Route)
            path = re.sub(r"\{[^}]+\}", support.id, full_path)
            if path in SECOND_FACTOR_PATHS or path in ("/login", "/healthz"):
                continue
            for method in route.methods or ():
                response = await client.request(method, path, headers=headers)
                checked += 1
                if method == "GET" and not path.startswith("/api/"):
                    assert response.status_code == 303, (method, path)
                    assert response.headers["location"] == "/login/second-factor", path
                else:
                    assert response.status_code == 403, (method, path, response.text)
        assert checked >= 20
        # Variants of a path are no way around it.
        for variant in ("/account/security/", "/ACCOUNT/security", "/api//sessions"):
            assert (await client.get(variant)).status_code in (303, 403)
        assert (await client.get("/")).headers["location"] == "/login/second-factor"
        # Starting again from the sign-in page replaces the half-done sign-in.
        first = session_cookie(client)
        assert (await admin.login(client)).headers["location"] == "/login/second-factor"
        assert session_cookie(client) != first
        async with admin.new_client() as stale:
            stale.cookies.set("tasuke_session", first or "")
            assert (await stale.get("/")).headers["location"].startswith("/login?")


async def test_trusted_browser_skips_the_second_factor_until_revoked(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        secret, _ = await enrol_totp(admin, client)
    admin.clock.advance(limits.TOTP_STEP)
    async with admin.new_client() as browser:
        browser.headers["user-agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537"
        csrf = await password_step(admin, browser)
        code = totp_code(secret, admin.clock.now)
        done = await browser.post(
            "/login/totp", data={"code": code, "csrf_token": csrf, "remember": "1"}
        )
        assert done.status_code == 303
        trusted_cookie = browser.cookies.get("tasuke_trusted")
        assert trusted_cookie
        assert f"Max-Age={limits.TRUSTED_BROWSER_DAYS * 86400}" in str(done.headers)
        page = (await browser.get("/account/security")).text
        assert "Chrome on Linux" in page
        assert trusted_cookie not in page
        csrf = csrf_from(page)
        await browser.post("/logout", data={"csrf_token": csrf})
        # Next sign-in: the password alone is enough in this browser...
        again = await admin.login(browser)
        assert again.headers["location"] == "/"
        # ...but not in another one, and never without the password.
        async with admin.new_client() as other:
            assert (await admin.login(other)).headers["location"] == "/login/second-factor"
            other.cookies.set("tasuke_trusted", trusted_cookie)
            wrong = await admin.login(other, password="not the password")
            assert wrong.status_code == 401
        # An admin sees every trusted browser.
        listing = await browser.get("/admin/sign-in")
        assert listing.status_code == 200
        assert "Chrome on Linux" in listing.text
        assert 'action="/admin/trusted/' in listing.text
        security = (await browser.get("/account/security")).text
        match = re.search(r'data-trusted-id="(\d+)"', security)
        assert match is not None
        revoked = await browser.post(
            f"/account/trusted/{match.group(1)}/revoke", data={"csrf_token": csrf_from(security)}
        )
        assert revoked.status_code == 303
        await browser.post("/logout", data={"csrf_token": csrf_from(security)})
        after = await admin.login(browser)
        assert after.headers["location"] == "/login/second-factor"


async def _operator_with_password(server: AppUnderTest, name: str) -> None:
    await server.state.store.add_operator(name)
    operator = await server.state.store.operator_by_username(name)
    assert operator is not None
    await server.state.store.set_password(operator.id, await hash_password(ADMIN_PASSWORD))


async def test_admin_can_require_a_second_factor_for_everyone(admin: AppUnderTest) -> None:
    await _operator_with_password(admin, "sato")
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        page = await client.get("/admin/sign-in")
        assert "Optional" in page.text
        on = await client.post("/admin/sign-in/require", data={"required": "1", "csrf_token": csrf})
        assert on.status_code == 303
        assert "Required for every operator" in (await client.get("/admin/sign-in")).text
    async with admin.new_client() as sato:
        response = await admin.login(sato, username="sato")
        assert response.headers["location"] == "/account/enrol"
        enrol = await sato.get("/account/enrol")
        assert "Set up a second factor" in enrol.text
        # Nothing else until enrolled: no page, no API, no ticket.
        assert (await sato.get("/")).headers["location"] == "/account/enrol"
        api = await sato.post("/api/sessions", headers={"X-CSRF-Token": csrf_from(enrol.text)})
        assert api.status_code == 403
        pending = session_cookie(sato)
        secret, _ = await enrol_totp(admin, sato)
        assert session_cookie(sato) not in (None, pending)
        assert (await sato.get("/")).status_code == 200
        # The last second factor cannot be removed while one is required.
        security = await sato.get("/account/security")
        removed = await sato.post(
            "/account/totp/remove",
            data={"password": ADMIN_PASSWORD, "csrf_token": csrf_from(security.text)},
        )
        assert removed.status_code == 400
        assert "required" in removed.text
        assert secret


async def test_operator_sees_failed_attempts_at_next_sign_in(admin: AppUnderTest) -> None:
    for i in range(2):
        async with admin.new_client(f"198.51.{i}.20") as attacker:
            assert (await admin.login(attacker, password="guess")).status_code == 401
    async with admin.new_client() as client:
        await admin.signed_in(client)
        page = await client.get("/")
        assert "2 failed sign-in attempt(s) since your last sign-in" in page.text
        dismissed = await client.post(
            "/account/notice/dismiss", data={"csrf_token": csrf_from(page.text)}
        )
        assert dismissed.status_code == 303
        assert "failed sign-in attempt" not in (await client.get("/")).text
    async with admin.new_client() as client:
        await admin.signed_in(client)
        assert "failed sign-in attempt" not in (await client.get("/")).text


async def test_cli_resets_a_lost_second_factor(admin: AppUnderTest) -> None:
    from tasuke.errors import ConfigError
    from tasuke.server import signin_cli

    async with admin.new_client() as client:
        await admin.signed_in(client)
        await enrol_totp(admin, client)
        await signin_cli._reset(admin.settings.data_dir, "admin")
        # Signed out everywhere, and the password alone signs in again.
        assert (await client.get("/")).headers["location"].startswith("/login")
        assert (await admin.login(client)).headers["location"] == "/"
    events = [e.event for e in await admin.state.store.audit.entries()]
    assert "second_factor.reset" in events
    with pytest.raises(ConfigError):
        await signin_cli._reset(admin.settings.data_dir, "nobody")


async def test_sign_in_security_pages_have_no_inline_script_or_style(admin: AppUnderTest) -> None:
    pages: list[str] = []
    async with admin.new_client() as client:
        await admin.signed_in(client)
        for path in ("/account/security", "/account/totp", "/admin/sign-in"):
            response = await client.get(path)
            assert response.status_code == 200, path
            pages.append(response.text)
        page = await client.get("/account/totp")
        secret = _SECRET.search(page.text)
        assert secret is not None
        codes = await client.post(
            "/account/totp/confirm",
            data={
                "code": totp_code(secret.group(1).replace(" ", ""), admin.clock.now),
                "csrf_token": csrf_from(page.text),
            },
        )
        pages.append(codes.text)
    async with admin.new_client() as client:
        await password_step(admin, client)
        pages.append((await client.get("/login/second-factor")).text)
    assert 'src="/static/js/webauthn.js"' in pages[0]
    for html in pages:
        assert "style=" not in html
        assert "<style" not in html
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
        assert re.search(r"\son[a-z]+=", html) is None
