"""``tasuke vnc``: the screen engine alone, as an RFB server on loopback.

For interop with any VNC viewer and for benchmarks. It offers no authentication (security
type None), so it refuses to listen on anything but a loopback address.
"""

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import ipaddress
import logging
import signal
import socket
import sys

from tasuke.desktop.base import InputSink, ScreenSource
from tasuke.errors import ConfigError, RemoteError, TasukeError
from tasuke.rfb.session import serve_rfb

__all__ = ["TCPByteStream", "parse_loopback_listen", "parse_monitor", "register"]

log = logging.getLogger(__name__)

_READ_SIZE = 64 * 1024


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``vnc`` sub-command."""
    parser = subparsers.add_parser(
        "vnc",
        help="serve this display to a local VNC viewer (loopback only)",
        description="Serve an X display over RFB 3.8 on a loopback address, without a password.",
    )
    parser.add_argument("--display", default=None, help="X display, e.g. :0 (default: $DISPLAY)")
    parser.add_argument(
        "--listen",
        default="127.0.0.1:5900",
        metavar="HOST:PORT",
        help="loopback address to listen on (port 0 picks a free port)",
    )
    parser.add_argument("--name", default=None, help="desktop name shown by the viewer")
    parser.add_argument(
        "--view-only", action="store_true", help="ignore keyboard and mouse input from viewers"
    )
    parser.add_argument(
        "--monitor",
        default="all",
        type=parse_monitor,
        metavar="N|all",
        help="show only the N-th monitor that `xrandr --listmonitors` lists (counting from 1), "
        "or all of them (the default; viewers with ExtendedDesktopSize get one screen each)",
    )
    parser.set_defaults(func=run_vnc)


def parse_monitor(value: str) -> int:
    """``all`` -> 0, ``N`` -> N (N >= 1).

    Raises:
        argparse.ArgumentTypeError: anything else.
    """
    if value == "all":
        return 0
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a monitor number from 1, or all, not {value!r}")


def parse_loopback_listen(value: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:PORT`` for IPv6) and insist that HOST is loopback.

    Raises:
        ConfigError: malformed, or not a loopback address (there is no authentication).
    """
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"--listen {value!r}: expected HOST:PORT, e.g. 127.0.0.1:5900")
    host = host.removeprefix("[").removesuffix("]")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"--listen {value!r}: give a loopback IP address such as 127.0.0.1 or [::1]"
        ) from None
    if not address.is_loopback:
        raise ConfigError(
            f"--listen {value!r}: tasuke vnc has no password, so it listens only on loopback "
            "(127.0.0.0/8 or ::1); use an SSH tunnel to reach it from elsewhere"
        )
    return host, int(port_text)


class TCPByteStream:
    """:class:`~tasuke.rfb.session.ByteStream` over an asyncio TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def receive(self) -> bytes:
        """Next bytes from the viewer; b"" when it disconnected."""
        try:
            return await self._reader.read(_READ_SIZE)
        except ConnectionError:
            return b""

    async def send(self, data: bytes) -> None:
        """Write and wait for the socket buffer to drain."""
        self._writer.write(data)
        await self._writer.drain()


def run_vnc(args: argparse.Namespace) -> int:
    """Handler of ``tasuke vnc``: serve until interrupted; 2 on a configuration error."""
    try:
        host, port = parse_loopback_listen(args.listen)
    except ConfigError as exc:
        print(f"tasuke vnc: {exc}", file=sys.stderr)
        return 2
    from tasuke.desktop import open_backend

    try:
        # Fail now, with a clear message, rather than on the first viewer's connection.
        source, sink = open_backend(args.display, monitor=args.monitor)
    except ConfigError as exc:
        print(f"tasuke vnc: {exc}", file=sys.stderr)
        return 2
    source.close()
    sink.close()
    name = args.name or f"Tasuke {socket.gethostname()}"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _serve(host, port, args.display, name, view_only=args.view_only, monitor=args.monitor)
        )
    return 0


async def _serve(
    host: str, port: int, display: str | None, name: str, *, view_only: bool, monitor: int
) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            await _serve_connection(
                TCPByteStream(reader, writer), display, name, view_only, monitor
            )
        except RemoteError as exc:
            log.warning("viewer %s closed: %s", peer, exc.reason)
        except TasukeError as exc:
            log.error("viewer %s could not be served: %s", peer, exc)
        except (ConnectionError, OSError) as exc:
            log.info("viewer %s disconnected: %s", peer, exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port)
    actual = server.sockets[0].getsockname()
    shown = f"[{actual[0]}]" if ":" in actual[0] else actual[0]
    print(f"tasuke vnc listening on {shown}:{actual[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


async def _serve_connection(
    stream: TCPByteStream, display: str | None, name: str, view_only: bool, monitor: int
) -> None:
    """Open the display for this viewer alone, so viewers never share a display connection."""
    from tasuke.desktop import open_backend

    opener = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    loop = asyncio.get_running_loop()
    try:
        backend: tuple[ScreenSource, InputSink] = await loop.run_in_executor(
            opener, functools.partial(open_backend, display, monitor=monitor)
        )
    finally:
        opener.shutdown(wait=False)
    source, sink = backend
    try:
        await serve_rfb(stream, source, sink, name=name, input_allowed=lambda: not view_only)
    finally:
        source.close()
        sink.close()
