"""``tasuke join``: connect to the server, ask the customer, serve the screen.

The order of things is the security argument, so here it is in one place:

1. Connect out (wss with normal certificate checks), send hello, get welcome.
2. Verify the server's signature on the grant before showing anything from it.
3. After ``peer_joined``, run the E2E handshake (agent role).
4. Only then show the consent prompt, with the verified operator identity and
   the verification code. Nothing has been captured yet.
5. Only a local choice moves :class:`~tasuke.agent.consent.Consent`. On a grant
   the RFB engine starts on channel 1; its input reaches the desktop only while
   ``Consent.may_inject_input`` says so, and its bytes leave only while
   ``Consent.may_send_screen`` does.
6. Any end (customer, operator, server, error) tears everything down within a
   second and destroys the keys.

The per-session work lives in :class:`tasuke.agent.session.AgentSession`; this
module owns the WebSocket connection and turns library errors into messages.
"""

import asyncio
import signal

import websockets
from websockets.asyncio.client import connect

from tasuke import __version__, limits
from tasuke.agent.consent import LocalEvent
from tasuke.agent.deps import JoinDeps, JoinOptions
from tasuke.agent.hello import agent_ws_url, build_hello, tls_context
from tasuke.agent.session import AgentSession
from tasuke.errors import TasukeError

__all__ = ["join"]


def _say(deps: JoinDeps, text: str) -> None:
    deps.err.write(text + "\n")
    deps.err.flush()


async def join(options: JoinOptions, deps: JoinDeps) -> int:
    """Run one support session for the customer; return the exit status.

    0 when the session ended normally (by either side) or the customer denied,
    1 on any error, with a message in Japanese and English on ``deps.err``.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[LocalEvent] = asyncio.Queue()

    def emit(event: LocalEvent) -> None:
        loop.call_soon_threadsafe(events.put_nowait, event)

    try:
        ws_url = agent_ws_url(options.server)
        ssl_context = tls_context(ws_url, options.ca_cert)
        deps.ui.start(emit)
    except TasukeError as exc:
        _say(deps, str(exc))
        return 1
    try:
        source, sink = deps.open_backend(options.display)
    except TasukeError as exc:
        deps.ui.close()
        _say(deps, f"画面を開けません / Cannot open the screen: {exc}")
        return 1
    try:
        hello = build_hello(options.number, source.size())
        try:
            async with connect(
                ws_url,
                ssl=ssl_context,
                max_size=limits.MAX_BINARY_FRAME,
                compression=None,
                open_timeout=limits.HELLO_TIMEOUT,
                close_timeout=limits.CLOSE_TIMEOUT,
                ping_interval=limits.PING_INTERVAL,
                ping_timeout=limits.PING_TIMEOUT,
                user_agent_header=f"tasuke-agent/{__version__}",
            ) as ws:
                session = AgentSession(ws, deps, source, sink, events)
                stop = session.request_stop
                if deps.handle_signals:
                    loop.add_signal_handler(signal.SIGINT, stop)
                    loop.add_signal_handler(signal.SIGTERM, stop)
                try:
                    return await session.run(hello)
                finally:
                    if deps.handle_signals:
                        loop.remove_signal_handler(signal.SIGINT)
                        loop.remove_signal_handler(signal.SIGTERM)
        except (OSError, TimeoutError, websockets.exceptions.InvalidHandshake) as exc:
            _say(
                deps,
                f"サーバーに接続できません / Cannot connect to the server {options.server}: {exc}",
            )
            return 1
    finally:
        deps.ui.close()
        source.close()
        sink.close()
