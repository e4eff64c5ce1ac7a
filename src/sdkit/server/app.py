"""The FastAPI app of `sdkit serve`: A1111's API at /sdapi/v1, sdkit's at /v1, docs at /docs, and "/"
left free for the web UI. Errors leave in A1111's shape (`error`, `detail`, `body`, `errors`) with
sdkit's hint beside them; none is a 500 unless sdkit itself failed."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sdkit.core.errors import SdkitError, UserInputError
from sdkit.server.a1111_map import check_limits
from sdkit.server.a1111_routes import a1111_router
from sdkit.server.guard import Guard, error_body
from sdkit.server.options import Options
from sdkit.server.settings import ServerSettings
from sdkit.server.v1_routes import v1_router
from sdkit.service import QueueFull, Service

log = logging.getLogger(__name__)
A1111_PREFIX = "/sdapi/v1"
SDKIT_PREFIX = "/v1"


def create_app(service: Service, settings: ServerSettings) -> FastAPI:
    """The app on `service` (its worker starts and stops with the app's lifespan)."""
    from sdkit import __version__

    service.plan_check = lambda plan: check_limits(plan, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="sdkit serve", version=__version__, lifespan=lifespan,
                  description="AUTOMATIC1111-compatible /sdapi/v1 and sdkit's own /v1 job API.")
    app.state.service = service
    app.state.settings = settings
    options = Options(settings.save_images)
    app.state.options = options
    app.include_router(a1111_router(service, settings, options), prefix=A1111_PREFIX)
    app.include_router(v1_router(service, settings), prefix=SDKIT_PREFIX)
    app.add_middleware(Guard, credentials=settings.credentials, max_body_bytes=settings.max_body_bytes)
    _add_error_handlers(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, error: QueueFull) -> JSONResponse:
        return JSONResponse(error_body("QueueFull", error.message, error.hint), status_code=503,
                            headers={"Retry-After": str(error.retry_after)})

    @app.exception_handler(SdkitError)
    async def sdkit_error(request: Request, error: SdkitError) -> JSONResponse:
        status = 422 if isinstance(error, UserInputError) else 500
        if status == 500:
            log.warning("%s %s failed: %s", request.method, request.url.path, error.message)
        return JSONResponse(error_body(type(error).__name__, error.message, error.hint), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body("HTTPException", str(error.detail)), status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_problem(item) for item in error.errors()]
        body = error_body("RequestValidationError", "; ".join(problems),
                          "check the field names and types against GET /docs")
        body["detail"] = [{"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
                          for item in error.errors()]
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(error_body(type(error).__name__, f"sdkit failed: {type(error).__name__}: {error}",
                                       "details are in sdkit's log"), status_code=500)


def _problem(item: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
    return f"{where}: {item.get('msg')}" if where else str(item.get("msg"))
