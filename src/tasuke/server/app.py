"""The FastAPI application: routes, middleware, and what happens at start and stop."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.responses import JSONResponse
from starlette.staticfiles import StaticFiles

from tasuke import __version__
from tasuke.server.admin import web as admin_web
from tasuke.server.admin.rights import ALL_RIGHTS, enforce
from tasuke.server.db.engine import create_engine, make_sessionmaker, migrate
from tasuke.server.db.store import Store
from tasuke.server.deps import Clock, Random, system_clock, system_random
from tasuke.server.security.middleware import AccessMiddleware, SecurityHeadersMiddleware
from tasuke.server.security.signing import load_or_create_key
from tasuke.server.settings import Settings
from tasuke.server.state import ServerState
from tasuke.server.web import account, admin_signin, api, pages, second_factor
from tasuke.server.ws.endpoints import agent_endpoint, console_endpoint
from tasuke.server.ws.live import Registry
from tasuke.server.ws.tickets import TicketStore

__all__ = ["STATIC_DIR", "create_app", "prepare"]

log = logging.getLogger("tasuke.server")
STATIC_DIR = Path(__file__).parent / "static"


async def prepare(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    rng: Random = system_random,
    create_admin: bool = True,
) -> str | None:
    """Make the data folder ready: schema, signing key, and the first admin.

    Returns the admin's one-time password if this call created the admin (empty database),
    else ``None``. The caller shows it once; it is stored only as an argon2id hash.
    """
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    load_or_create_key(settings.signing_key_path)
    engine = create_engine(settings.database_path)
    try:
        await migrate(engine)
        store = Store(make_sessionmaker(engine), clock, rng)
        if create_admin and await store.operator_count() == 0:
            password = await store.add_operator(
                "admin", display_name="Administrator", is_admin=True, rights=ALL_RIGHTS
            )
            await store.audit.append(
                "operator.created",
                actor="server",
                subject="admin",
                details={"admin": True, "rights": ALL_RIGHTS.split(","), "first_start": True},
            )
            return password
        return None
    finally:
        await engine.dispose()


def create_app(
    settings: Settings, *, clock: Clock = system_clock, rng: Random = system_random
) -> FastAPI:
    """Build the server application for ``settings`` (the data folder is prepared at start)."""
    engine = create_engine(settings.database_path)
    store = Store(make_sessionmaker(engine), clock, rng)
    state = ServerState(
        settings=settings,
        store=store,
        clock=clock,
        rng=rng,
        signing_key=load_or_create_key(settings.signing_key_path),
        tickets=TicketStore(clock, rng),
        registry=Registry(store),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await migrate(engine)
        interrupted = await store.end_interrupted()
        if interrupted:
            log.info("ended %d sessions interrupted by the last stop", interrupted)
        try:
            yield
        finally:
            await state.registry.end_all("server shutting down")
            await engine.dispose()

    # The interactive API docs need inline scripts and a CDN, which the CSP forbids.
    app = FastAPI(
        title="Tasuke",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # The schema route is a plain Starlette route that app-wide dependencies do not reach,
        # so it would sit outside the per-route rules: not served at all.
        openapi_url=None,
        # Every route's own rule (rights.action on its handler) is checked here, before the
        # handler runs; a route without one is refused.
        dependencies=[Depends(enforce)],
    )
    app.state.tasuke = state
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(admin_web.router)
    app.include_router(second_factor.router)
    app.include_router(account.router)
    app.include_router(admin_signin.router)
    app.add_api_websocket_route("/ws/agent", agent_endpoint)
    app.add_api_websocket_route("/ws/console", console_endpoint)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # Outermost last: headers wrap everything, including the access checks' refusals.
    app.add_middleware(AccessMiddleware, settings=settings)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    return app
