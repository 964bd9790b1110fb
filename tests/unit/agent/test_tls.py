"""The agent checks the server's certificate; --ca-cert trusts a private CA; nothing skips it."""

import asyncio
import io
import ssl
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

from tasuke.agent.connection import join
from tasuke.agent.deps import JoinDeps, JoinOptions
from tests.support.certs import self_signed
from tests.unit.agent.fakes import FakeInput, FakeScreen, FakeUI


async def run_agent(url: str, ca_cert: str | None) -> tuple[int, str]:
    err = io.StringIO()
    deps = JoinDeps(
        ui=FakeUI(),
        open_backend=lambda _d: (FakeScreen(), FakeInput()),
        err=err,
        handle_signals=False,
    )
    code = await join(JoinOptions(number="123456789", server=url, ca_cert=ca_cert), deps)
    return code, err.getvalue()


async def test_certificates_are_checked_and_a_private_ca_can_be_trusted(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    hellos: list[str] = []

    async def handler(conn: ServerConnection) -> None:
        hellos.append(str(await conn.recv()))
        await conn.send('{"type":"error","code":"invalid_session","message":"no"}')
        await conn.close()

    async with serve(handler, "127.0.0.1", 0, ssl=context) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"https://localhost:{port}"
        code, err = await run_agent(url, None)
        assert code == 1
        assert "Cannot connect to the server" in err
        assert "CERTIFICATE_VERIFY_FAILED" in err
        assert hellos == []
        code, err = await asyncio.wait_for(run_agent(url, str(cert)), 10)
        assert code == 1
        assert "invalid or has expired" in err
        assert len(hellos) == 1
