"""The real `tasuke server` process: first start, operator commands, TLS cookies, a relay."""

import asyncio
import json
import re
import stat
from pathlib import Path

import httpx
from tests.support.certs import self_signed
from tests.support.server import ADMIN_PASSWORD, csrf_from, running_server
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


def test_first_start_creates_admin_once_and_operator_commands_work(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(tmp_path, data_dir=data, set_password=False) as server:
        otp_lines = [line for line in server.output if "one-time password:" in line]
        assert len(otp_lines) == 1
        assert re.search(r"one-time password: (\S+)", otp_lines[0])
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "server-signing-key.pem").stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "tasuke.sqlite3").stat().st_mode) == 0o600
        # The one-time password signs in, but only to the set-new-password page.
        with server.client() as client:
            page = client.get("/login")
            response = client.post(
                "/login",
                data={
                    "username": "admin",
                    "password": server.first_password,
                    "csrf_token": csrf_from(page.text),
                },
            )
            assert response.headers["location"] == "/password"
        added = server.cli("operator", "add", "sato", "--display-name", "Sato Hanako")
        assert added.returncode == 0, added.stderr
        sato_password = re.search(r"one-time password: (\S+)", added.stdout)
        assert sato_password is not None
        with server.client() as client:
            csrf = server.login(client, "sato", sato_password.group(1))
            assert "Set a new password" in client.get("/password").text
            assert csrf
        reset = server.cli("operator", "reset-password", "sato")
        assert reset.returncode == 0
        assert "one-time password: " in reset.stdout
        listing = server.cli("operator", "list")
        assert "admin" in listing.stdout
        assert "Sato Hanako" in listing.stdout
        missing = server.cli("operator", "reset-password", "nobody")
        assert missing.returncode == 1
        assert "no operator" in missing.stderr
    # Second start on the same data: no new admin, no password printed.
    with running_server(tmp_path, data_dir=data, set_password=False) as again:
        assert not any("one-time password" in line for line in again.output)


def test_tls_cookies_are_secure_host_only_and_hsts_is_sent(tmp_path: Path) -> None:
    tls = self_signed(tmp_path)
    with running_server(tmp_path, tls=tls) as server:
        assert server.url.startswith("https://")
        with server.client() as client:
            page = client.get("/login")
            assert page.headers["strict-transport-security"].startswith("max-age=")
            assert "connect-src 'self' wss://127.0.0.1:" in page.headers["content-security-policy"]
            login_cookie = page.headers["set-cookie"]
            assert login_cookie.startswith("__Host-tasuke_login=")
            response = client.post(
                "/login",
                data={
                    "username": "admin",
                    "password": ADMIN_PASSWORD,
                    "csrf_token": csrf_from(page.text),
                },
            )
            assert response.status_code == 303
            cookies = response.headers.get_list("set-cookie")
            session_cookie = next(c for c in cookies if "tasuke_session=" in c)
            assert session_cookie.startswith("__Host-tasuke_session=")
            for flag in ("Secure", "HttpOnly", "Path=/"):
                assert flag in session_cookie
            assert "samesite=strict" in session_cookie.lower()
            assert "domain=" not in session_cookie.lower()
            assert client.get("/").status_code == 200


def test_relay_through_the_real_process(tmp_path: Path) -> None:
    with running_server(tmp_path) as server, server.client() as client:
        csrf = server.login(client)
        session = client.post("/api/sessions", headers={"X-CSRF-Token": csrf}).json()
        ticket = client.post(
            f"/api/sessions/{session['id']}/ticket", headers={"X-CSRF-Token": csrf}
        ).json()

        async def scenario() -> dict[str, object]:
            console = await connect(f"{server.ws_url}{ticket['url']}", origin=server.url)
            assert json.loads(await console.recv())["type"] == "waiting"
            agent = await connect(f"{server.ws_url}/ws/agent")
            await agent.send(
                json.dumps(
                    {
                        "type": "hello",
                        "role": "agent",
                        "version": 1,
                        "join": session["number"],
                        "agent": {"hostname": "<script>x</script>"},
                    }
                )
            )
            assert json.loads(await agent.recv())["type"] == "welcome"
            assert json.loads(await agent.recv())["type"] == "peer_joined"
            assert json.loads(await console.recv())["type"] == "peer_joined"
            await agent.send(b"\x00\x01\x02")
            assert await console.recv() == b"\x00\x01\x02"
            await console.send(json.dumps({"type": "end", "reason": "bye"}))
            ended: dict[str, object] = json.loads(await agent.recv())
            try:
                async with asyncio.timeout(2):
                    await agent.recv()
            except ConnectionClosed:
                pass
            await console.close()
            return ended

        assert asyncio.run(scenario()) == {
            "type": "session_ended",
            "by": "operator",
            "reason": "bye",
        }
        listed = client.get("/api/sessions").json()
        assert listed[0]["ended_by"] == "operator"
        html = client.get("/").text
        assert "&lt;script&gt;x&lt;/script&gt;" in html
    # The record survives a restart.
    with running_server(tmp_path, data_dir=server.data_dir) as again, again.client() as client:
        again.login(client)
        record = client.get(f"/api/sessions/{session['id']}").json()
        assert record["ended_by"] == "operator"
        assert record["end_reason"] == "bye"
        assert httpx.codes.is_success(client.get("/healthz").status_code)
