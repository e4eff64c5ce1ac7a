"""Start `sdkit serve`: the service, the app, uvicorn; a clean stop on Ctrl-C or SIGTERM.

A stop (SIGINT, SIGTERM) first tells the service to stop (waiting jobs are cancelled, the running one
stops at its next step, keeping only whole files), so the requests waiting on it answer at once and
uvicorn's graceful shutdown does not wait for a long job; then uvicorn closes its connections and
the app's lifespan joins the worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.server.settings import ServerSettings

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def require_server_extra() -> None:
    """FastAPI and uvicorn, or the message that says how to install them."""
    import importlib.util

    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserInputError(f"sdkit serve needs {' and '.join(missing)}, which "
                             f"{'is' if len(missing) == 1 else 'are'} not installed here",
                             "pip install 'sdkit-cli[server]'")


def make_service(settings: ServerSettings) -> Any:
    from sdkit.service import Service

    if settings.models_dir is not None:
        # The run layer reads the models folder from the environment, as `SDKIT_MODELS_DIR=... sdkit generate` does.
        os.environ["SDKIT_MODELS_DIR"] = str(settings.models_dir.expanduser().resolve())
    output_dir = settings.output_dir
    if output_dir is None:
        from sdkit.core.tasks import Task
        from sdkit.run.execute import default_output_dir

        output_dir = default_output_dir(Task.TXT2IMG).parent  # where `generate` puts its <task>/ folders
    return Service(output_dir, max_loaded=settings.max_loaded, max_queue=settings.max_queue)


def build(settings: ServerSettings, mount_ui: Callable[..., Any] | None = None) -> tuple[Any, Any]:
    """(FastAPI app, Service) for these settings; the service's worker starts with the app's lifespan."""
    require_server_extra()
    from sdkit.server.app import create_app

    service = make_service(settings)
    app = create_app(service, settings)
    if mount_ui is not None:
        mount_ui(app, service, path="/")
    return app, service


def uvicorn_server(app: Any, settings: ServerSettings, service: Any,
                   on_ready: Callable[[int], None] | None = None) -> Any:
    """A uvicorn server whose stop signals stop the service first, and that exits normally after one.

    `on_ready(port)` runs once it listens (with the real port, also for `--port 0`)."""
    import uvicorn

    class SdkitServer(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if on_ready is not None and not self.should_exit:
                on_ready(_bound_port(self, settings))

        def handle_exit(self, sig: int, frame: Any) -> None:
            service.begin_shutdown()
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the signal after its shutdown; a server stopped on purpose just ends.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=10, server_header=False)
    return SdkitServer(config)


def run_server(settings: ServerSettings, *, mount_ui: Callable[..., Any] | None = None,
               announce: Callable[[str], None] = print) -> None:
    """Serve until stopped. `announce` tells the person who started it where to look."""
    app, service = build(settings, mount_ui)

    def ready(port: int) -> None:
        announce(f"sdkit serve: listening on http://{settings.host}:{port} (A1111 API /sdapi/v1, sdkit API /v1, "
                 f"docs /docs{', web UI /' if mount_ui else ''}); images go to {service.output_dir}; Ctrl-C stops")

    uvicorn_server(app, settings, service, ready).run()
    announce("sdkit serve: stopped")


def _bound_port(server: Any, settings: ServerSettings) -> int:
    """The port really listened on (`--port 0` takes any free one)."""
    for listener in getattr(server, "servers", []) or []:
        for sock in listener.sockets:
            return sock.getsockname()[1]
    return settings.port
