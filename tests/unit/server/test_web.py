"""Console pages and REST API over ASGI: sign-in, forced password change, CSRF, access control."""

import re
from collections.abc import Iterable, Iterator

import pytest
from fastapi.routing import APIWebSocketRoute
from starlette.routing import BaseRoute, Mount, Route

from tasuke import limits
from tasuke.server.security.middleware import PUBLIC_PATHS, TICKET_PATHS
from tests.support.server import ADMIN_PASSWORD, csrf_from
from tests.unit.server.conftest import AppUnderTest


async def test_first_sign_in_forces_a_new_password(server: AppUnderTest) -> None:
    client = server.client
    response = await server.login(client, password=server.first_password)
    assert response.status_code == 303
    assert response.headers["location"] == "/password"
    # Every other page sends the operator back to the password page until it is changed.
    assert (await client.get("/")).headers["location"] == "/password"
    api = await client.post("/api/sessions", headers={"X-CSRF-Token": "x"})
    assert api.status_code == 403
    page = await client.get("/password")
    assert "Set a new password" in page.text
    csrf = csrf_from(page.text)
    short = await client.post(
        "/password", data={"password": "short", "password2": "short", "csrf_token": csrf}
    )
    assert short.status_code == 400
    assert "at least" in short.text
    same = await client.post(
        "/password",
        data={
            "password": server.first_password,
            "password2": server.first_password,
            "csrf_token": csrf,
        },
    )
    assert same.status_code == 400
    done = await client.post(
        "/password",
        data={"password": ADMIN_PASSWORD, "password2": ADMIN_PASSWORD, "csrf_token": csrf},
    )
    assert done.status_code == 303
    dashboard = await client.get("/")
    assert dashboard.status_code == 200
    assert 'id="new-session"' in dashboard.text
    # The one-time password no longer works.
    async with server.new_client() as other:
        assert (await server.login(other, password=server.first_password)).status_code == 401
        assert (await server.login(other)).status_code == 303


async def test_unknown_user_and_wrong_password_get_the_same_answer(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        wrong = await admin.login(client, password="not the password")
    async with admin.new_client() as client:
        unknown = await admin.login(client, username="nobody", password="not the password")
    assert wrong.status_code == unknown.status_code == 401
    strip = re.compile(r'content="[0-9a-f]{64}"|value="[0-9a-f]{64}"')
    assert strip.sub("", wrong.text) == strip.sub("", unknown.text)
    assert "Wrong user name or password" in wrong.text


async def test_repeated_failures_make_the_account_wait(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        for _ in range(limits.LOGIN_FREE_FAILURES):
            assert (await admin.login(client, password="bad")).status_code == 401
        # Even the right password waits now: the delay is decided before checking.
        blocked = await admin.login(client)
        assert blocked.status_code == 429
        assert "Try again in" in blocked.text
        admin.clock.advance(limits.LOGIN_FAILURE_BASE_DELAY + 0.1)
        assert (await admin.login(client)).status_code == 303


async def test_session_cookie_flags_over_plain_http(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        response = await admin.login(client)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("tasuke_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/" in cookie


async def test_state_changing_requests_need_the_csrf_token(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        assert (await client.post("/api/sessions")).status_code == 403
        wrong = await client.post("/api/sessions", headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403
        assert (await client.post("/sessions", data={})).status_code == 403
        assert (await client.post("/logout", data={"csrf_token": "nope"})).status_code == 403
        ok = await client.post("/api/sessions", headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 201
        assert re.fullmatch(r"[1-9][0-9]{8}", ok.json()["number"])
    # The login form itself is protected by its double-submit cookie.
    async with admin.new_client() as fresh:
        no_token = await fresh.post("/login", data={"username": "admin", "password": "x"})
        assert no_token.status_code == 403


def _all_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route with its full path, also inside included routers (FastAPI keeps those apart)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _all_routes(included.routes, prefix + getattr(context, "prefix", ""))
        else:
            yield prefix + getattr(route, "path", "?"), route


async def test_every_route_denies_anonymous_requests_unless_public(admin: AppUnderTest) -> None:
    checked = 0
    async with admin.new_client() as client:
        for full_path, route in _all_routes(admin.app.routes):
            if isinstance(route, Mount):
                assert full_path == "/static"
                continue
            path = re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", full_path)
            if isinstance(route, APIWebSocketRoute):
                assert path in PUBLIC_PATHS | TICKET_PATHS
                continue
            assert isinstance(route, Route)
            for method in route.methods or ():
                if path in PUBLIC_PATHS:
                    continue
                response = await client.request(method, path)
                checked += 1
                if method == "GET" and not path.startswith("/api/"):
                    assert response.status_code == 303, (method, path)
                    assert response.headers["location"].startswith("/login"), (method, path)
                else:
                    assert response.status_code == 401, (method, path)
        # Unknown paths are private too: nobody learns which routes exist.
        assert (await client.get("/no/such/page")).status_code == 303
        assert (await client.get("/openapi.json")).status_code == 303
    assert checked >= 8


async def test_security_headers_on_every_response(admin: AppUnderTest) -> None:
    for path in ("/login", "/static/css/console.css", "/healthz", "/"):
        response = await admin.client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "connect-src 'self' ws://testserver" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers


async def test_pages_have_no_inline_script_or_style(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        pages = [(await client.get("/login")).text]
        csrf = await admin.signed_in(client)
        pages.append((await client.get("/")).text)
        pages.append((await client.get("/password")).text)
        created = await client.post("/sessions", data={"csrf_token": csrf})
        pages.append((await client.get(created.headers["location"])).text)
    for html in pages:
        assert '<meta name="csrf-token"' in html
        assert "style=" not in html
        assert "<style" not in html
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
        assert re.search(r"\son[a-z]+=", html) is None


async def test_new_session_button_opens_the_session_page(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        created = await client.post("/sessions", data={"csrf_token": csrf})
        assert created.status_code == 303
        session_id = created.headers["location"].removeprefix("/sessions/")
        page = await client.get(f"/sessions/{session_id}")
        assert page.status_code == 200
        assert f'data-session-id="{session_id}"' in page.text
        row = await admin.state.store.get_session(session_id)
        assert row is not None
        number = row.session.number
        assert f'data-number="{number}"' in page.text
        assert f"{number[:3]} {number[3:6]} {number[6:]}" in page.text
        assert 'id="sign-out"' in page.text
        dashboard = await client.get("/")
        assert f"{number[:3]} {number[3:6]} {number[6:]}" in dashboard.text
        assert (await client.get("/sessions/ffff")).status_code == 404


async def test_hostile_agent_strings_are_escaped_in_the_dashboard(admin: AppUnderTest) -> None:
    store = admin.state.store
    operator = await store.operator_by_username("admin")
    assert operator is not None
    session = await store.create_session(operator.id)
    hostile = {"hostname": "<script>alert(1)</script>", "os": '"><img src=x onerror=alert(2)>'}
    assert await store.claim_number(session.number, "192.0.2.1", hostile) is not None
    async with admin.new_client() as client:
        await admin.signed_in(client)
        html = (await client.get("/")).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


async def test_ticket_api(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        session = (await client.post("/api/sessions", headers={"X-CSRF-Token": csrf})).json()
        response = await client.post(
            f"/api/sessions/{session['id']}/ticket", headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["url"] == f"/ws/console?ticket={body['ticket']}"
        assert response.headers["cache-control"] == "no-store"
        missing = await client.post("/api/sessions/nope/ticket", headers={"X-CSRF-Token": csrf})
        assert missing.status_code == 404
        admin.clock.advance(limits.SESSION_NUMBER_TTL + 1)
        expired = await client.post(
            f"/api/sessions/{session['id']}/ticket", headers={"X-CSRF-Token": csrf}
        )
        assert expired.status_code == 409


async def test_sign_out_ends_the_sign_in(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        out = await client.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert out.headers["location"] == "/login"
        assert (await client.get("/")).status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
async def test_login_never_redirects_off_site(admin: AppUnderTest, target: str) -> None:
    async with admin.new_client() as client:
        page = await client.get("/login", params={"next": target})
        response = await client.post(
            "/login",
            data={
                "username": "admin",
                "password": ADMIN_PASSWORD,
                "csrf_token": csrf_from(page.text),
                "next": target,
            },
        )
        assert response.headers["location"] == "/"


async def test_oversized_form_is_refused(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        await admin.signed_in(client)
        response = await client.post(
            "/sessions",
            content=b"a" * (limits.MAX_FORM_BODY + 1),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 413
