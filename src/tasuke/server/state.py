"""Everything one server process holds, built once by create_app and shared by the routes."""

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.requests import HTTPConnection

from tasuke.server.db.store import Store
from tasuke.server.deps import Clock, Random
from tasuke.server.security.throttle import FailureDelay, WindowLimit
from tasuke.server.settings import Settings
from tasuke.server.ws.live import Registry
from tasuke.server.ws.tickets import TicketStore

__all__ = ["ServerState", "server_state"]


@dataclass
class ServerState:
    """Settings, the store, the signing key and the in-memory registries of one process."""

    settings: Settings
    store: Store
    clock: Clock
    rng: Random
    signing_key: Ed25519PrivateKey
    tickets: TicketStore
    registry: Registry
    login_throttle: FailureDelay = field(default_factory=FailureDelay)
    join_limit: WindowLimit = field(default_factory=WindowLimit)


def server_state(connection: HTTPConnection) -> ServerState:
    """The state of the app serving ``connection``."""
    state: ServerState = connection.app.state.tasuke
    return state
