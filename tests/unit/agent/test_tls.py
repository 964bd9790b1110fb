"""The agent checks the server's certificate; --ca-cert trusts a private CA; nothing skips it."""

import asyncio
import datetime
import io
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import ServerConnection, serve

from tasuke.agent.connection import join
from tasuke.agent.deps import JoinDeps, JoinOptions
from tests.unit.agent.fakes import FakeInput, FakeScreen, FakeUI


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


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
