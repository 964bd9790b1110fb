"""Admin half of the hardened server over real sockets and real processes: the block list at the
agent leg, the signed grant following the operator's rights, and the ``tasuke`` admin commands."""

import asyncio
import base64
import json
import re
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_server_ws import closed, hello, join, open_agent, recv_json
from tests.support.server import InProcessServer, serve_in_process, tasuke_command

from tasuke.cli import main
from tasuke.server.admin import netlists, operators


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    async with serve_in_process(tmp_path) as running:
        yield running


async def _operator_session(server: InProcessServer, username: str, rights: str) -> Any:
    store = server.state.store
    await store.add_operator(username, rights=rights)
    operator = await store.operator_by_username(username)
    assert operator is not None
    return await store.create_session(operator.id)


def _grant(welcome: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(welcome["grant"]))
    return value


async def test_a_view_only_operator_gets_a_view_only_grant(server: InProcessServer) -> None:
    session = await _operator_session(server, "viewer", "view")
    ws, welcome = await join(server, session.number)
    assert welcome["type"] == "welcome"
    assert _grant(welcome)["permissions"] == ["view"]
    await ws.close()


async def test_the_grant_carries_exactly_the_operator_rights(server: InProcessServer) -> None:
    session = await _operator_session(server, "helper", "view,control,sysinfo")
    ws, welcome = await join(server, session.number)
    assert _grant(welcome)["permissions"] == ["view", "control", "sysinfo"]
    await ws.close()


async def test_rights_removed_after_creating_the_session_refuse_the_join(
    server: InProcessServer,
) -> None:
    store = server.state.store
    session = await _operator_session(server, "sato", "view,control")
    await operators.set_rights(store, "sato", rights="", modes="number", actor="t", address=None)
    ws, reply = await join(server, session.number)
    assert reply["type"] == "error"
    assert reply["code"] == "invalid_session"
    await closed(ws)
    row = await store.get_session(session.id)
    assert row is not None
    assert row.session.ended_at is not None


async def test_a_blocked_customer_is_refused_before_any_session_work(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = server.state.store
    session = await server.new_session()
    await netlists.add_entry(store, netlists.CUSTOMER_BLOCK, "127.0.0.0/8", actor="t", address=None)
    looked_up: list[str] = []

    async def spy(number: str, *args: object) -> None:
        looked_up.append(number)
        raise AssertionError("the number was looked up")

    monkeypatch.setattr(store, "claim_number", spy)
    audit_before = len(await store.audit.entries())
    for _ in range(3):
        ws = await open_agent(server)
        await ws.send(hello(session.number))
        reply = await recv_json(ws)
        assert reply["type"] == "error"
        assert reply["code"] == "blocked"
        assert "not accepted" in reply["message"]
        code, reason = await closed(ws)
        assert (code, reason) == (1008, "blocked")
    assert looked_up == []
    row = await store.get_session(session.id)
    assert row is not None
    assert row.session.joined_at is None
    assert row.session.customer_address is None
    assert server.state.registry.get(session.id) is None
    # One audit row for the address, however often it knocks.
    entries = await store.audit.entries()
    assert [r.event for r in entries[: len(entries) - audit_before]] == ["agent.blocked"]
    # Failed joins were not counted either: nothing about joining happened.
    assert not server.state.join_limit.blocked("127.0.0.1", server.clock())
    monkeypatch.undo()
    await netlists.remove_entry(
        store, netlists.CUSTOMER_BLOCK, "127.0.0.0/8", actor="t", address=None
    )
    ws, welcome = await join(server, session.number)
    assert welcome["type"] == "welcome"
    await ws.close()


async def test_a_block_on_another_network_lets_customers_in(server: InProcessServer) -> None:
    store = server.state.store
    await netlists.add_entry(store, netlists.CUSTOMER_BLOCK, "10.0.0.0/8", actor="t", address=None)
    session = await server.new_session()
    ws, welcome = await join(server, session.number)
    assert welcome["type"] == "welcome"
    await ws.close()


async def test_session_events_reach_the_audit_log(server: InProcessServer) -> None:
    session = await server.new_session()
    ws, _ = await join(server, session.number)
    await ws.close()
    store = server.state.store
    async with asyncio.timeout(5):
        # The database has no event to wait on: poll it, within the deadline above.
        while "session.ended" not in (events := [r.event for r in await store.audit.entries()]):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    events.reverse()
    assert events[-3:] == ["session.created", "session.joined", "session.ended"]
    assert (await store.audit.verify()).ok


# --- the tasuke commands -------------------------------------------------------------------


def tasuke(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tasuke_command(*args), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_operator_and_lists_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same commands in this process (the exit-code test below runs real processes)."""
    data = tmp_path / "data"

    def tasuke(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
        code = main([*args, "--data-dir", str(data_dir)])
        out = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out.out, out.err)

    added = tasuke(data, "operator", "add", "sato", "--rights", "view,control")
    assert added.returncode == 0, added.stderr
    assert re.search(r"one-time password: \S+", added.stdout)
    assert tasuke(data, "operator", "add", "boss", "--admin").returncode == 0
    bad = tasuke(data, "operator", "add", "x", "--rights", "root")
    assert bad.returncode == 1
    assert "unknown rights" in bad.stderr
    future = tasuke(data, "operator", "set-rights", "sato", "--modes", "device")
    assert future.returncode == 1
    assert "unavailable modes" in future.stderr
    changed = tasuke(data, "operator", "set-rights", "sato", "--rights", "view")
    assert changed.returncode == 0, changed.stderr
    assert tasuke(data, "operator", "disable", "sato").returncode == 0
    assert tasuke(data, "operator", "disable", "sato").returncode == 1
    listing = tasuke(data, "operator", "list").stdout.splitlines()
    assert listing[0].split("\t") == ["user", "name", "role", "rights", "modes", "state"]
    rows = {line.split("\t")[0]: line.split("\t") for line in listing[1:]}
    assert rows["boss"][2:5] == ["admin", "view,control,files,sysinfo", "number"]
    assert rows["sato"][2] == "operator"
    assert rows["sato"][5] == "disabled"
    assert tasuke(data, "operator", "enable", "sato").returncode == 0
    reset = tasuke(data, "operator", "reset-password", "sato")
    assert re.search(r"one-time password: \S+", reset.stdout)

    assert tasuke(data, "lists", "add", "customer-block", "192.0.2.0/24").returncode == 0
    assert tasuke(data, "lists", "add", "operator-allow", "10.0.0.0/8").returncode == 0
    assert tasuke(data, "lists", "add", "customer-block", "192.0.2.1/24").returncode == 1
    shown = tasuke(data, "lists", "show").stdout
    assert "customer-block\t192.0.2.0/24" in shown
    assert "operator-allow\t10.0.0.0/8" in shown
    assert tasuke(data, "lists", "remove", "operator-allow", "10.0.0.0/8").returncode == 0
    assert "operator-allow" not in tasuke(data, "lists", "show").stdout

    exported = tasuke(data, "audit", "export", "--format", "json")
    events = [row["event"] for row in json.loads(exported.stdout)]
    assert events.count("operator.created") == 2
    assert "operator.rights_changed" in events
    assert "lists.removed" in events
    assert all(row["actor"].startswith("cli") for row in json.loads(exported.stdout))


def test_audit_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    missing = tasuke(data, "audit", "verify")
    assert missing.returncode == 2
    assert "no database" in missing.stderr
    for name in ("a", "b", "c", "d"):
        assert main(["operator", "add", name, "--data-dir", str(data)]) == 0
    good = tasuke(data, "audit", "verify")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "intact: 4 entries" in good.stdout
    head = good.stdout.split("head ")[1].strip()
    capsys.readouterr()
    assert main(["audit", "verify", "--anchor", head, "--data-dir", str(data)]) == 0
    assert main(["audit", "verify", "--anchor", "ab" * 32, "--data-dir", str(data)]) == 1
    assert "anchor abababababababab... is not in the chain" in capsys.readouterr().out
    with sqlite3.connect(data / "tasuke.sqlite3") as db:
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET subject = 'z' WHERE id = 2")
    edited = tasuke(data, "audit", "verify")
    assert edited.returncode == 1
    assert "BROKEN at entry 2" in edited.stdout
    with sqlite3.connect(data / "tasuke.sqlite3") as db:
        db.execute("UPDATE audit_log SET subject = 'b' WHERE id = 2")
    assert tasuke(data, "audit", "verify").returncode == 0  # put back: intact again
    with sqlite3.connect(data / "tasuke.sqlite3") as db:
        db.execute("DROP TRIGGER audit_log_no_delete")
        db.execute("DELETE FROM audit_log WHERE id = 3")
    deleted = tasuke(data, "audit", "verify")
    assert deleted.returncode == 1
    assert "BROKEN at entry 4" in deleted.stdout
    out = str(tmp_path / "a.csv")
    assert (
        main(["audit", "export", "--format", "csv", "--output", out, "--data-dir", str(data)]) == 0
    )
    assert (tmp_path / "a.csv").read_text().startswith("id,at,event")


# --- the real agent honours a view-only grant ------------------------------------------------


@pytest.mark.x11
@pytest.mark.timeout(120)
async def test_the_real_agent_offers_no_control_to_a_view_only_operator(
    tmp_path: Path, x_display: str
) -> None:
    from tests.integration.test_agent_join import (
        Agent,
        Support,
        open_console,
        until_prompted,
    )
    from tests.support.server import csrf_from, running_server

    from tasuke.agent.ui import ALLOW_CONTROL, ALLOW_VIEW

    with running_server(tmp_path) as server:
        added = server.cli("operator", "add", "viewer", "--rights", "view")
        first = re.search(r"one-time password: (\S+)", added.stdout)
        assert first is not None, added.stderr
        with server.client() as client:
            csrf = server.login(client, "viewer", first.group(1))
            done = client.post(
                "/password",
                data={"password": "viewer password 1", "password2": "viewer password 1"}
                | {"csrf_token": csrf},
            )
            assert done.status_code == 303
            csrf = csrf_from(client.get("/").text)
            body = client.post("/api/sessions", headers={"X-CSRF-Token": csrf}).json()
        support = Support(server, body["id"], body["number"])
        console = await open_console(support)  # ticket minted by the admin
        agent = Agent(support, x_display, "terminal")
        try:
            await until_prompted(console, agent)
            await agent.wait_output(ALLOW_VIEW)
            assert ALLOW_CONTROL not in agent.output()
            agent.type("c\n")  # what a control answer would be: refused by the prompt
            await agent.wait_output("v / d ?")
            agent.type("v\n")
            await console.pump(
                lambda: console.control("consent")[-1]["state"] == "granted" and bool(console.rfb())
            )
            assert console.control("consent")[-1] == {
                "type": "consent",
                "state": "granted",
                "scope": "view",
            }
            record = support.record()
            assert (record["consent_decision"], record["consent_scope"]) == ("granted", "view")
        finally:
            agent.stop()
            await console.ws.close()
