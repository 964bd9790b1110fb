"""Brute force, identical answers, session timeouts and rotation, sign out everywhere, and the
security headers on every kind of response; time is the test's fake clock."""

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from tasuke import limits
from tasuke.server.app import create_app, prepare
from tasuke.server.settings import Settings
from tests.support.server import ADMIN_PASSWORD, FakeClock, csrf_from
from tests.unit.server.conftest import AppUnderTest

_TOKENS = re.compile(r"[0-9a-f]{64}")
_WAIT = re.compile(r"Try again in (\d+) seconds")
# Headers whose value differs between any two responses, whatever the request.
_VOLATILE = {"date"}


def _minimum_delay(guesses: int) -> float:
    """What the throttle makes ``guesses`` failed guesses at one account cost, at least."""
    return sum(
        min(
            limits.LOGIN_FAILURE_MAX_DELAY,
            limits.LOGIN_FAILURE_BASE_DELAY * 2.0 ** (n - limits.LOGIN_FREE_FAILURES),
        )
        for n in range(limits.LOGIN_FREE_FAILURES, guesses)
    )


async def test_thirty_guesses_from_thirty_networks_take_the_configured_delay(
    admin: AppUnderTest,
) -> None:
    start = admin.clock.now
    guesses = refused = 0
    for i in range(30):
        # A fresh address in a different /24 for every guess: only the account connects them.
        async with admin.new_client(f"198.{51 + i // 200}.{i % 200}.7") as attacker:
            while True:
                response = await admin.login(attacker, password=f"guess {i}")
                if response.status_code != 429:
                    break
                refused += 1
                wait = _WAIT.search(response.text)
                assert wait is not None
                admin.clock.advance(float(wait.group(1)))
            assert response.status_code == 401
            guesses += 1
    assert guesses == 30
    assert refused >= 30 - limits.LOGIN_FREE_FAILURES
    assert admin.clock.now - start >= _minimum_delay(30)
    # Even the right password from a network never seen before waits now.
    async with admin.new_client("192.0.2.200") as owner:
        assert (await admin.login(owner)).status_code == 429


def _comparable(response: httpx.Response) -> tuple[int, str, list[tuple[str, str]]]:
    headers = [
        (name, _TOKENS.sub("<token>", value))
        for name, value in response.headers.multi_items()
        if name not in _VOLATILE
    ]
    return response.status_code, _TOKENS.sub("<token>", response.text), sorted(headers)


async def test_unknown_user_and_wrong_password_get_identical_answers(admin: AppUnderTest) -> None:
    answers: dict[str, list[tuple[int, str, list[tuple[str, str]]]]] = {}
    for n, username in enumerate(("admin", "nobody")):
        answers[username] = []
        async with admin.new_client(f"203.0.{n + 1}.5") as client:
            for _ in range(limits.LOGIN_FREE_FAILURES + 1):
                answers[username].append(
                    _comparable(await admin.login(client, username=username, password="wrong"))
                )
    wrong, unknown = answers["admin"], answers["nobody"]
    assert [a[0] for a in wrong] == [401] * limits.LOGIN_FREE_FAILURES + [429]
    assert wrong == unknown


async def test_idle_timeout_ends_a_session(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        for _ in range(3):
            admin.clock.advance(limits.SESSION_IDLE_TIMEOUT - limits.SESSION_TOUCH_INTERVAL - 1)
            assert (await client.get("/")).status_code == 200  # use keeps it alive
        admin.clock.advance(limits.SESSION_IDLE_TIMEOUT)
        expired = await client.get("/")
        assert expired.status_code == 303
        assert expired.headers["location"].startswith("/login")
        api = await client.get("/api/sessions")
        assert api.status_code == 401


async def test_absolute_timeout_ends_even_a_busy_session(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        step = limits.SESSION_IDLE_TIMEOUT / 2
        elapsed = 0.0
        while elapsed + step < limits.SESSION_COOKIE_TTL:
            admin.clock.advance(step)
            elapsed += step
            assert (await client.get("/")).status_code == 200
        admin.clock.advance(step)
        assert (await client.get("/")).headers["location"].startswith("/login")


async def test_sign_out_everywhere_kills_every_cookie(admin: AppUnderTest) -> None:
    async with admin.new_client() as laptop, admin.new_client("198.51.100.4") as phone:
        csrf = await admin.signed_in(laptop)
        await admin.signed_in(phone)
        assert (await phone.get("/")).status_code == 200
        count = re.search(r"signed in (\d+) time", (await laptop.get("/account/security")).text)
        assert count is not None
        assert int(count.group(1)) >= 2
        out = await laptop.post("/account/sign-out-everywhere", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert out.headers["location"] == "/login"
        assert (await phone.get("/")).headers["location"].startswith("/login")
        assert (await laptop.get("/")).headers["location"].startswith("/login")


async def test_cookie_is_rotated_on_sign_in_and_password_change(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        # A cookie planted before sign-in (session fixation) is never adopted.
        client.cookies.set("tasuke_session", "a" * 64, domain="testserver.local")
        csrf = await admin.signed_in(client)
        first = client.cookies.get("tasuke_session")
        assert first not in (None, "a" * 64)
        new_password = ADMIN_PASSWORD + " 2"
        changed = await client.post(
            "/password",
            data={
                "current_password": ADMIN_PASSWORD,
                "password": new_password,
                "password2": new_password,
                "csrf_token": csrf,
            },
        )
        assert changed.status_code == 303
        second = client.cookies.get("tasuke_session")
        assert second not in (None, first)
        assert (await client.get("/")).status_code == 200
    async with admin.new_client() as stale:
        stale.cookies.set("tasuke_session", first or "")
        assert (await stale.get("/")).headers["location"].startswith("/login")


def _assert_security_headers(response: httpx.Response, *, hsts: bool) -> None:
    what = (response.request.method, response.request.url.path, response.status_code)
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp, what
    assert "unsafe-inline" not in csp, what
    assert "frame-ancestors 'none'" in csp, what
    assert response.headers.get("x-content-type-options") == "nosniff", what
    assert response.headers.get("referrer-policy") == "no-referrer", what
    assert ("strict-transport-security" in response.headers) is hsts, what
    if hsts:
        assert "max-age=" in response.headers["strict-transport-security"]


async def _every_kind_of_response(server: AppUnderTest, base: str) -> list[httpx.Response]:
    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug in a handler")

    server.app.router.add_route("/account/boom", boom)
    transport = httpx.ASGITransport(app=server.app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        responses = [
            await client.get("/login"),  # HTML
            await client.get("/healthz"),  # JSON
            await client.get("/static/css/console.css"),  # static file
            await client.get("/static/js/webauthn.js"),
            await client.get("/static/no-such-file.css"),  # 404 from static
            await client.get("/"),  # redirect to sign in
            await client.get("/api/sessions"),  # 401 JSON
            await client.post("/login", data={"username": "x"}),  # 403 CSRF
            await client.head("/login"),
        ]
        login_page = await client.get("/login")
        responses.append(
            await client.post(
                "/login",
                data={
                    "username": "admin",
                    "password": ADMIN_PASSWORD,
                    "csrf_token": csrf_from(login_page.text),
                },
            )
        )  # redirect with cookies
        csrf = csrf_from((await client.get("/")).text)
        responses += [
            await client.get("/sessions/unknown"),  # 404 page
            await client.get("/api/sessions"),  # 200 JSON
            await client.get("/account/security"),
            await client.post("/sessions", content=b"a" * (limits.MAX_FORM_BODY + 1)),  # 413
            await client.get("/account/boom"),  # 500 from an unhandled exception
            await client.post("/api/sessions/x/ticket", headers={"X-CSRF-Token": csrf}),
        ]
    assert responses[-2].status_code == 500
    assert responses[-3].status_code == 413
    return responses


async def test_security_headers_on_every_kind_of_response(admin: AppUnderTest) -> None:
    for response in await _every_kind_of_response(admin, "http://testserver"):
        _assert_security_headers(response, hsts=False)


@pytest.fixture
async def tls_admin(tmp_path: Path, clock: FakeClock) -> AsyncIterator[AppUnderTest]:
    """The app as it runs behind TLS (https public URL): Secure cookies and HSTS."""
    settings = Settings(data_dir=tmp_path / "data", public_url="https://testserver")
    first = await prepare(settings, clock=clock)
    assert first is not None
    operator_app = create_app(settings, clock=clock)
    async with operator_app.router.lifespan_context(operator_app):
        store = operator_app.state.tasuke.store
        admin = await store.operator_by_username("admin")
        from tasuke.server.security.passwords import hash_password

        await store.set_password(admin.id, await hash_password(ADMIN_PASSWORD))
        yield AppUnderTest(operator_app, clock, settings, first, httpx.AsyncClient())


async def test_security_headers_and_hsts_under_tls(tls_admin: AppUnderTest) -> None:
    responses = await _every_kind_of_response(tls_admin, "https://testserver")
    for response in responses:
        _assert_security_headers(response, hsts=True)
    signed_in = next(r for r in responses if r.request.method == "POST" and r.status_code == 303)
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("__Host-tasuke_session=")
    assert "Secure" in cookie
