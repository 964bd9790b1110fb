"""Roles and rights at dispatch, admin pages, allow list, and no admin made through the web."""

import json
import re
from collections.abc import Iterable, Iterator
from urllib.parse import unquote

import httpx
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Mount, Route

from tasuke.server.admin import netlists
from tasuke.server.admin.rights import action_of
from tasuke.server.security.middleware import PUBLIC_PATHS, TICKET_PATHS
from tests.support.server import csrf_from
from tests.unit.server.conftest import AppUnderTest

PASSWORD = "operator password 123"
FAKE_ID = "0123456789abcdef0123456789abcdef"


async def make_operator(
    app: AppUnderTest,
    client: httpx.AsyncClient,
    username: str,
    *,
    rights: str = "view",
    modes: str = "number",
) -> str:
    """Create an operator, sign ``client`` in as them, set their password, return the CSRF."""
    first = await app.state.store.add_operator(username, rights=rights, modes=modes)
    response = await app.login(client, username=username, password=first)
    assert response.headers["location"] == "/password", response.text
    csrf = csrf_from((await client.get("/password")).text)
    done = await client.post(
        "/password", data={"password": PASSWORD, "password2": PASSWORD, "csrf_token": csrf}
    )
    assert done.status_code == 303, done.text
    return csrf_from((await client.get("/")).text)


def all_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route with its full path, also inside included routers."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from all_routes(included.routes, prefix + getattr(context, "prefix", ""))
        else:
            yield prefix + getattr(route, "path", "?"), route


def http_routes(app: AppUnderTest) -> list[tuple[str, str, Route]]:
    """(method, concrete path, route) for every HTTP route; path parameters filled in."""
    found = []
    for full_path, route in all_routes(app.app.routes):
        if isinstance(route, (Mount, APIWebSocketRoute)):
            continue
        assert isinstance(route, Route), full_path
        path = re.sub(r"\{[^}]+\}", FAKE_ID, full_path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path, route))
    return found


def variants(path: str) -> list[str]:
    """The same path spelled the ways a sloppy matcher might confuse with another."""
    encoded = "/" + "".join(f"%{ord(c):02X}" if c.isalpha() else c for c in path[1:2]) + path[2:]
    return [
        path,
        path.rstrip("/") + "/",
        path.upper(),
        encoded,
        "/" + path,
        path + ";x",
        path.replace("/", "//"),
    ]


def _is_denied(response: httpx.Response) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    return response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_every_route_and_spelling_denies_anonymous_requests(admin: AppUnderTest) -> None:
    checked = 0
    async with admin.new_client() as client:
        for method, path, _route in http_routes(admin):
            for variant in variants(path):
                if unquote(variant) in PUBLIC_PATHS:
                    continue  # the same path, only spelled differently: public by design
                response = await client.request(method, f"http://testserver{variant}")
                checked += 1
                assert _is_denied(response), (method, variant, response.status_code)
                assert "one-time password" not in response.text
    assert checked > 100


def test_every_console_route_names_its_rule() -> None:
    """Default deny needs no list, but a route without a rule should fail here, not in use."""
    from tasuke.server.app import create_app
    from tasuke.server.settings import Settings

    app = create_app(Settings(public_url="http://testserver"))
    missing = []
    for full_path, route in all_routes(app.routes):
        if isinstance(route, Mount) or full_path in PUBLIC_PATHS | TICKET_PATHS:
            continue
        if isinstance(route, APIWebSocketRoute):
            missing.append(full_path)
            continue
        if action_of(getattr(route, "endpoint", None)) is None and full_path != "/healthz":
            missing.append(full_path)
    assert missing == []
    # Plain Starlette routes would not pass through the app-wide rule check: there are none.
    for full_path, route in all_routes(app.routes):
        assert isinstance(route, (APIRoute, APIWebSocketRoute)) or full_path == "/static"


async def test_a_route_without_a_rule_is_refused(admin: AppUnderTest) -> None:
    @admin.app.get("/unmarked-test-route")
    async def unmarked() -> dict[str, str]:
        return {"secret": "leaked"}

    async with admin.new_client() as client:
        await admin.signed_in(client)
        response = await client.get("/unmarked-test-route")
        schema = await client.get("/openapi.json")
    assert response.status_code == 403
    assert "leaked" not in response.text
    assert schema.status_code == 404


async def test_an_operator_gets_403_on_every_admin_route(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await make_operator(admin, client, "sato", rights="view,control,files,sysinfo")
        admin_routes = [(m, p) for m, p, _ in http_routes(admin) if p.startswith("/admin")]
        assert len(admin_routes) >= 10
        for method, path in admin_routes:
            for target in (path, path.replace(FAKE_ID, "admin"), path.replace(FAKE_ID, "sato")):
                response = await client.request(
                    method,
                    target,
                    data={"csrf_token": csrf, "username": "x", "list_name": "customer_block"},
                )
                assert response.status_code == 403, (method, target, response.status_code)
        # The console shows no admin link to a plain operator.
        assert 'id="admin-link"' not in (await client.get("/")).text
    assert await netlists.entries(admin.state.store) == []


async def _admin_count(app: AppUnderTest) -> int:
    return sum(1 for op in await app.state.store.list_operators() if op.is_admin)


async def test_no_route_creates_or_promotes_an_admin(admin: AppUnderTest) -> None:
    store = admin.state.store
    await store.add_operator("sato")
    hostile = {
        "username": "mallory",
        "display_name": "Mallory",
        "is_admin": "1",
        "admin": "on",
        "role": "admin",
        "rights": ["view", "control"],
        "modes": "number",
    }
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        for method, path, _ in http_routes(admin):
            if method == "GET" or path in ("/logout",):
                continue
            for target in (path, path.replace(FAKE_ID, "sato"), path.replace(FAKE_ID, "admin")):
                form = {**hostile, "csrf_token": csrf}
                await client.request(method, target, data=form, headers={"X-CSRF-Token": csrf})
                await client.request(
                    method,
                    target,
                    content=json.dumps({**hostile, "is_admin": True}),
                    headers={"X-CSRF-Token": csrf, "content-type": "application/json"},
                )
    assert await _admin_count(admin) == 1
    mallory = await store.operator_by_username("mallory")
    assert mallory is not None  # the add-operator form worked, but made an operator
    assert not mallory.is_admin
    sato = await store.operator_by_username("sato")
    assert sato is not None
    assert not sato.is_admin


async def test_admin_accounts_are_read_only_on_the_web(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        page = await client.get("/admin/operators/admin")
        assert page.status_code == 200
        assert "only on the server" in page.text
        assert 'id="disable-operator"' not in page.text
        for verb in ("disable", "enable", "reset-password", "rights"):
            response = await client.post(
                f"/admin/operators/admin/{verb}", data={"csrf_token": csrf, "rights": "view"}
            )
            assert response.status_code == 403, verb
    admin_row = await admin.state.store.operator_by_username("admin")
    assert admin_row is not None
    assert admin_row.disabled_at is None


async def test_admin_adds_an_operator_and_sees_the_password_once(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        assert 'id="admin-link"' in (await client.get("/")).text
        listing = await client.get("/admin/operators")
        assert listing.status_code == 200
        assert 'value="device"' not in listing.text  # future modes cannot be chosen
        assert "not available yet" in listing.text
        created = await client.post(
            "/admin/operators",
            data={
                "csrf_token": csrf,
                "username": "Suzuki",
                "display_name": "Suzuki Ichiro",
                "rights": ["control"],
                "modes": "number",
            },
        )
        assert created.status_code == 200
        assert created.headers["cache-control"] == "no-store"
        match = re.search(r'id="one-time-password">([^<]+)<', created.text)
        assert match is not None
        again = await client.get("/admin/operators/suzuki")
        assert match.group(1) not in again.text
        assert "control, " not in again.text or "view" in again.text
        duplicate = await client.post(
            "/admin/operators", data={"csrf_token": csrf, "username": "suzuki"}
        )
        assert duplicate.status_code == 400
        assert "already exists" in duplicate.text
        bad = await client.post(
            "/admin/operators",
            data={"csrf_token": csrf, "username": "x", "rights": "root"},
        )
        assert bad.status_code == 400
    suzuki = await admin.state.store.operator_by_username("suzuki")
    assert suzuki is not None
    assert suzuki.rights == "view,control"  # control implies view
    async with admin.new_client() as other:
        response = await admin.login(other, username="suzuki", password=match.group(1))
        assert response.headers["location"] == "/password"
    events = [row.event for row in await admin.state.store.audit.entries()]
    assert "operator.created" in events


async def test_rights_edit_disable_enable_and_reset(admin: AppUnderTest) -> None:
    store = admin.state.store
    async with admin.new_client() as sato_client:
        await make_operator(admin, sato_client, "sato", rights="view,control")
        async with admin.new_client() as client:
            csrf = await admin.signed_in(client)
            edit = await client.post(
                "/admin/operators/sato/rights",
                data={"csrf_token": csrf, "rights": ["view", "sysinfo"], "modes": "number"},
            )
            assert edit.status_code == 303
            sato = await store.operator_by_username("sato")
            assert sato is not None
            assert sato.rights == "view,sysinfo"
            disabled = await client.post("/admin/operators/sato/disable", data={"csrf_token": csrf})
            assert disabled.status_code == 303
            # Sato's open browser is signed out at the next request, and cannot sign in.
            assert (await sato_client.get("/")).status_code == 303
            async with admin.new_client() as fresh:
                assert (await admin.login(fresh, "sato", PASSWORD)).status_code == 401
            page = await client.get("/admin/operators/sato")
            assert "disabled" in page.text
            enabled = await client.post("/admin/operators/sato/enable", data={"csrf_token": csrf})
            assert enabled.status_code == 303
            async with admin.new_client() as fresh:
                assert (await admin.login(fresh, "sato", PASSWORD)).status_code == 303
            reset = await client.post(
                "/admin/operators/sato/reset-password", data={"csrf_token": csrf}
            )
            assert reset.status_code == 200
            assert re.search(r'id="one-time-password">[a-z0-9]+<', reset.text)
            assert (await client.get("/admin/operators/nobody")).status_code == 404
    events = [row.event for row in await store.audit.entries(newest_first=False)]
    for expected in (
        "operator.rights_changed",
        "operator.disabled",
        "operator.enabled",
        "operator.password_reset",
    ):
        assert expected in events


async def test_disabling_withdraws_waiting_session_numbers(admin: AppUnderTest) -> None:
    store = admin.state.store
    await store.add_operator("sato")
    sato = await store.operator_by_username("sato")
    assert sato is not None
    session = await store.create_session(sato.id)
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        await client.post("/admin/operators/sato/disable", data={"csrf_token": csrf})
    assert await store.claim_number(session.number, "192.0.2.5", {}) is None


# --- rights at dispatch --------------------------------------------------------------------


async def test_operator_without_the_number_mode_cannot_create_sessions(
    admin: AppUnderTest,
) -> None:
    async with admin.new_client() as client:
        csrf = await make_operator(admin, client, "sato", rights="view,control", modes="")
        page = await client.post("/sessions", data={"csrf_token": csrf})
        api = await client.post("/api/sessions", headers={"X-CSRF-Token": csrf})
        assert page.status_code == api.status_code == 403
    assert await admin.state.store.list_sessions() == []


async def test_operator_without_rights_cannot_open_sessions(admin: AppUnderTest) -> None:
    store = admin.state.store
    async with admin.new_client() as client:
        csrf = await make_operator(admin, client, "sato", rights="view")
        created = (await client.post("/api/sessions", headers={"X-CSRF-Token": csrf})).json()
        sato = await store.operator_by_username("sato")
        assert sato is not None
        from tasuke.server.admin import operators

        await operators.set_rights(
            store, "sato", rights="", modes="number", actor="t", address=None
        )
        ticket = await client.post(
            f"/api/sessions/{created['id']}/ticket", headers={"X-CSRF-Token": csrf}
        )
        assert ticket.status_code == 403
        assert (await client.get(f"/sessions/{created['id']}")).status_code == 403
        # The console itself still opens: the operator can sign out or change the password.
        assert (await client.get("/")).status_code == 200


# --- operator allow list -------------------------------------------------------------------


async def test_sign_in_from_outside_the_allowed_networks_is_refused(admin: AppUnderTest) -> None:
    store = admin.state.store
    async with admin.new_client() as signed:
        await admin.signed_in(signed)
        await netlists.add_entry(
            store, netlists.OPERATOR_ALLOW, "10.0.0.0/8", actor="t", address=None
        )
        # The test client comes from 203.0.113.9: outside the list.
        async with admin.new_client() as client:
            page = await client.get("/login")
            assert page.status_code == 403
            assert "not reachable from your network" in page.text
            posted = await client.post(
                "/login", data={"username": "admin", "password": "x", "csrf_token": "x"}
            )
            assert posted.status_code == 403
            # What customers need stays reachable.
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/static/css/console.css")).status_code == 200
        # An existing sign-in from outside stops working too.
        assert (await signed.get("/")).status_code == 403
        await netlists.add_entry(
            store, netlists.OPERATOR_ALLOW, "203.0.113.0/24", actor="t", address=None
        )
        assert (await signed.get("/")).status_code == 200
    events = [row.event for row in await store.audit.entries()]
    assert events.count("console.refused_network") == 1  # noted once, not per request


async def test_lists_page_adds_and_removes_and_guards_against_lockout(
    admin: AppUnderTest,
) -> None:
    store = admin.state.store
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        page = await client.get("/admin/lists")
        assert page.status_code == 200
        assert "203.0.113.9" in page.text
        locked = await client.post(
            "/admin/lists",
            data={"csrf_token": csrf, "list_name": "operator_allow", "network": "10.0.0.0/8"},
        )
        assert locked.status_code == 409
        assert await netlists.entries(store) == []
        ok = await client.post(
            "/admin/lists",
            data={"csrf_token": csrf, "list_name": "operator_allow", "network": "203.0.113.0/24"},
        )
        assert ok.status_code == 303
        blocked = await client.post(
            "/admin/lists",
            data={
                "csrf_token": csrf,
                "list_name": "customer_block",
                "network": "198.51.100.7",
                "note": "<b>spam</b>",
            },
        )
        assert blocked.status_code == 303
        bad = await client.post(
            "/admin/lists",
            data={"csrf_token": csrf, "list_name": "customer_block", "network": "10.1.2.3/8"},
        )
        assert bad.status_code == 400
        assert "host bits" in bad.text
        html = (await client.get("/admin/lists")).text
        assert "198.51.100.7/32" in html
        assert "&lt;b&gt;spam&lt;/b&gt;" in html
        removed = await client.post(
            "/admin/lists/remove",
            data={"csrf_token": csrf, "list_name": "customer_block", "network": "198.51.100.7"},
        )
        assert removed.status_code == 303
        missing = await client.post(
            "/admin/lists/remove",
            data={"csrf_token": csrf, "list_name": "customer_block", "network": "198.51.100.7"},
        )
        assert missing.status_code == 400
    assert [e.network for e in await netlists.entries(store)] == ["203.0.113.0/24"]
    events = [row.event for row in await store.audit.entries(newest_first=False)]
    assert events.count("lists.added") == 2
    assert events.count("lists.removed") == 1


def test_address_matching() -> None:
    nets = ["10.0.0.0/8", "2001:db8::/32"]
    assert netlists.matches("10.1.2.3", nets)
    assert netlists.matches("::ffff:10.1.2.3", nets)
    assert netlists.matches("2001:db8::5", nets)
    assert not netlists.matches("11.0.0.1", nets)
    assert not netlists.matches("unknown", nets)
    assert not netlists.matches(None, nets)


# --- audit pages ---------------------------------------------------------------------------


async def test_audit_page_and_exports(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        await client.post("/api/sessions", headers={"X-CSRF-Token": csrf})
        page = await client.get("/admin/audit")
        assert page.status_code == 200
        assert "Hash chain intact" in page.text
        assert "session.created" in page.text
        as_csv = await client.get("/admin/audit/export.csv")
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert "attachment" in as_csv.headers["content-disposition"]
        assert as_csv.text.startswith("id,at,event,actor,subject,address,details,prev_hash,hash")
        as_json = await client.get("/admin/audit/export.json")
        rows = as_json.json()
        assert rows[0]["id"] == 1
        created = [r for r in rows if r["event"] == "session.created"]
        assert created[0]["actor"] == "admin"
        assert created[0]["address"] == "203.0.113.9"
        assert re.fullmatch(r"[1-9][0-9]{8}", created[0]["details"]["number"])


async def test_admin_pages_have_no_inline_script_or_style(admin: AppUnderTest) -> None:
    await admin.state.store.add_operator("sato")
    async with admin.new_client() as client:
        await admin.signed_in(client)
        for path in ("/admin/operators", "/admin/operators/sato", "/admin/lists", "/admin/audit"):
            response = await client.get(path)
            assert response.status_code == 200, path
            html = response.text
            assert '<meta name="csrf-token"' in html
            assert "style=" not in html
            assert "<style" not in html
            assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
            assert re.search(r"\son[a-z]+=", html) is None
            assert 'id="admin-nav"' in html
