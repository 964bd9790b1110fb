"""Everything one server process holds, built once by create_app and shared by the routes."""

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.requests import HTTPConnection

from tasuke import limits
from tasuke.server.db.signin_store import SigninStore
from tasuke.server.db.store import Store
from tasuke.server.deps import Clock, Random
from tasuke.server.security.throttle import LoginThrottle, WindowLimit
from tasuke.server.security.webauthn_rp import Challenges
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
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    join_limit: WindowLimit = field(default_factory=WindowLimit)
    """Failed joins per source network."""
    join_limit_server: WindowLimit = field(
        default_factory=lambda: WindowLimit(
            limit=limits.MAX_FAILED_JOINS_SERVER_PER_MINUTE, window=limits.JOIN_RATE_WINDOW
        )
    )
    """Failed joins of the whole server, whatever their sources."""
    blocked_noted: WindowLimit = field(
        default_factory=lambda: WindowLimit(limit=1, window=limits.BLOCKED_AUDIT_INTERVAL)
    )
    """Block-listed agent addresses already written to the audit log recently."""
    throttled_noted: WindowLimit = field(
        default_factory=lambda: WindowLimit(limit=1, window=limits.THROTTLED_AUDIT_INTERVAL)
    )
    """Networks whose throttled sign-in attempts were written to the audit log recently."""
    signin: SigninStore = field(init=False)
    """Second factors, trusted browsers, sign-in notices and settings (same database)."""
    webauthn_challenges: Challenges = field(init=False)

    def __post_init__(self) -> None:
        self.signin = SigninStore(self.store.sessionmaker, self.clock, self.rng)
        self.webauthn_challenges = Challenges(self.clock, self.rng)


def server_state(connection: HTTPConnection) -> ServerState:
    """The state of the app serving ``connection``."""
    state: ServerState = connection.app.state.tasuke
    return state
