"""Two-factor sign-in against the real `tasuke server` process, with the real clock.

The authenticator app is :func:`totp_code`. Enrolment spends the current time step, so the
sign-in uses the next step's code (accepted as one step of clock drift) instead of waiting.
"""

import re
import time
from pathlib import Path

import httpx
import pytest
from tests.support.server import RunningServer, csrf_from, running_server
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tasuke import limits
from tasuke.server.security.totp import totp_code


def _password_step(server: RunningServer, client: httpx.Client) -> httpx.Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "username": "admin",
            "password": server.admin_password,
            "csrf_token": csrf_from(page.text),
        },
    )


async def test_totp_sign_in_half_signed_in_limits_and_cli_reset(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        with server.client() as client:
            server.login(client)
            page = client.get("/account/totp")
            match = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.text)
            assert match is not None
            secret = match.group(1).replace(" ", "")
            confirmed = client.post(
                "/account/totp/confirm",
                data={"code": totp_code(secret, time.time()), "csrf_token": csrf_from(page.text)},
            )
            assert confirmed.status_code == 200
            assert "Recovery codes" in confirmed.text

        with server.client() as client:
            response = _password_step(server, client)
            assert response.headers["location"] == "/login/second-factor"
            csrf = csrf_from(client.get("/login/second-factor").text)
            session = client.post("/api/sessions", headers={"X-CSRF-Token": csrf})
            assert session.status_code == 403
            # No ticket to be had, and the cookie alone opens no console WebSocket.
            with pytest.raises(InvalidStatus):
                async with connect(
                    f"{server.ws_url}/ws/console",
                    origin=server.url,
                    additional_headers={"Cookie": server.session_cookie(client)},
                ):
                    pass
            code = totp_code(secret, time.time() + limits.TOTP_STEP)
            done = client.post("/login/totp", data={"code": code, "csrf_token": csrf})
            assert done.status_code == 303
            assert done.headers["location"] == "/"
            assert client.get("/").status_code == 200

        reset = server.cli("operator", "reset-second-factor", "admin")
        assert reset.returncode == 0, reset.stderr
        with server.client() as client:
            assert _password_step(server, client).headers["location"] == "/"
        exported = server.cli("audit", "export", "--format", "json")
        assert '"second_factor.reset"' in exported.stdout
        assert '"second_factor.totp_enabled"' in exported.stdout
