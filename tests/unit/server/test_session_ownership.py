"""Only a session's own operator (or an admin) can reach it; to anyone else it does not exist."""

import httpx
from starlette.requests import Request

from tasuke.server.admin.rights import action
from tests.unit.server.conftest import AppUnderTest
from tests.unit.server.test_admin_web import FAKE_ID, http_routes, make_operator


def _display(number: str) -> str:
    return f"{number[:3]} {number[3:6]} {number[6:]}"


def _session_routes(app: AppUnderTest) -> list[tuple[str, str]]:
    """(method, path template) for every HTTP route whose path names a session."""
    return [
        (method, path)
        for method, path, route in http_routes(app)
        if "{session_id}" in getattr(route, "path", "")
    ]


async def _create(client: httpx.AsyncClient, csrf: str) -> dict[str, str]:
    created = await client.post("/api/sessions", headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    body: dict[str, str] = created.json()
    return body


async def test_another_operators_session_is_not_found_on_every_route(admin: AppUnderTest) -> None:
    async with admin.new_client() as sato, admin.new_client() as suzuki:
        sato_csrf = await make_operator(admin, sato, "sato")
        suzuki_csrf = await make_operator(admin, suzuki, "suzuki")
        theirs = await _create(sato, sato_csrf)
        routes = _session_routes(admin)
        # The session page, the session's JSON and its console ticket at least.
        assert len(routes) >= 3, routes
        for method, path in routes:
            headers = {"X-CSRF-Token": suzuki_csrf}
            foreign = await suzuki.request(
                method, path.replace(FAKE_ID, theirs["id"]), headers=headers
            )
            unknown = await suzuki.request(method, path, headers=headers)
            assert foreign.status_code == 404, (method, path, foreign.status_code)
            # Byte for byte the answer an unknown id gets: existence is not revealed.
            assert (foreign.status_code, foreign.text) == (unknown.status_code, unknown.text)
            assert theirs["number"] not in foreign.text
            # The owner reaches the same route.
            own = await sato.request(
                method, path.replace(FAKE_ID, theirs["id"]), headers={"X-CSRF-Token": sato_csrf}
            )
            assert own.status_code in (200, 201), (method, path, own.status_code)
    intruder = await admin.state.store.operator_by_username("suzuki")
    assert intruder is not None
    assert admin.state.tickets.unspent(intruder.id) == 0  # no console ticket for the intruder


async def test_lists_show_only_own_sessions_unless_admin(admin: AppUnderTest) -> None:
    async with (
        admin.new_client() as sato,
        admin.new_client() as suzuki,
        admin.new_client() as boss,
    ):
        sato_csrf = await make_operator(admin, sato, "sato")
        suzuki_csrf = await make_operator(admin, suzuki, "suzuki")
        boss_csrf = await admin.signed_in(boss)
        satos = await _create(sato, sato_csrf)
        suzukis = await _create(suzuki, suzuki_csrf)
        admins = await _create(boss, boss_csrf)

        listed = (await suzuki.get("/api/sessions")).json()
        assert [s["id"] for s in listed] == [suzukis["id"]]
        dashboard = (await suzuki.get("/")).text
        assert _display(suzukis["number"]) in dashboard
        assert _display(satos["number"]) not in dashboard
        assert satos["id"] not in dashboard
        assert admins["id"] not in dashboard

        # An admin sees everyone's and may open any of them.
        everyone = {s["id"] for s in (await boss.get("/api/sessions")).json()}
        assert everyone == {satos["id"], suzukis["id"], admins["id"]}
        assert _display(satos["number"]) in (await boss.get("/")).text
        assert (await boss.get(f"/sessions/{satos['id']}")).status_code == 200
        assert (await boss.get(f"/api/sessions/{suzukis['id']}")).status_code == 200


async def test_a_session_route_without_the_ownership_rule_is_refused(admin: AppUnderTest) -> None:
    # A future route that names a session but forgets the ownership rule cannot leak it.
    @admin.app.get("/leaky/{session_id}")
    @action("console")
    async def leaky(request: Request, session_id: str) -> dict[str, str]:
        return {"secret": session_id}

    async with admin.new_client() as client:
        await admin.signed_in(client)
        response = await client.get(f"/leaky/{FAKE_ID}")
    assert response.status_code == 403
    assert "secret" not in response.text
