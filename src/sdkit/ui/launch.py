"""Start the web UI: on its own (`sdkit ui`, with its own `Service`) or mounted on `sdkit serve`'s app.

Offline and loopback by default: analytics off (`gradio_import`), no share link, no server-side
rendering (it would start a Node process), `127.0.0.1` unless `--host` says otherwise, and another
host only with `--auth`. Generated images are served from the service's output folder only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7861  # A1111's UI is 7860, which `sdkit serve` takes


@dataclass(frozen=True)
class UiSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    credentials: tuple[str, str] | None = None  # (user, password) of --auth
    models_dir: Path | None = None
    output_dir: Path | None = None  # default: the config's output_dir, else ./outputs

    def check(self) -> None:
        """Refuse settings that cannot work, or that would open the UI to other machines without a password."""
        from sdkit.server.settings import is_loopback

        if not 0 <= self.port <= 65535:
            raise UserInputError(f"--port {self.port} is not a TCP port",
                                 "give a port from 1 to 65535 (0: any free one)")
        if not is_loopback(self.host) and self.credentials is None:
            raise UserInputError(f"--host {self.host} would let other machines use the UI without a password",
                                 "add --auth USER:PASS, or keep the default --host 127.0.0.1")
        if self.models_dir is not None and not self.models_dir.expanduser().is_dir():
            raise UserInputError(f"--models-dir {self.models_dir} is not a folder",
                                 "give the folder that holds your models")


def parse_auth(text: str) -> tuple[str, str]:
    """`USER:PASS` as (user, password); the message never repeats the password."""
    user, colon, password = text.strip().partition(":")
    if not colon or not user or not password:
        raise UserInputError("--auth is not USER:PASS", "give --auth USER:PASS (both parts non-empty)")
    return user, password


def build_ui(service: Any) -> Any:
    """The UI's gradio Blocks, generating through `service` (a started `sdkit.service.Service`)."""
    from sdkit.ui.gradio_import import import_gradio
    from sdkit.ui.layout import build_layout
    from sdkit.ui.wiring import wire

    gr = import_gradio()
    blocks, parts = build_layout(gr)
    wire(gr, blocks, parts, service)
    return blocks


def _common_options(service: Any) -> dict[str, Any]:
    from sdkit.ui.layout import CSS

    # Gradio serves files returned by handlers only from allowed folders: the images the service saved.
    return {"allowed_paths": [str(service.output_dir)], "ssr_mode": False, "pwa": False, "mcp_server": False,
            "enable_monitoring": False, "footer_links": [], "css": CSS}


def mount_ui(fastapi_app: Any, service: Any, path: str = "/") -> Any:
    """Mount the UI on a FastAPI app (`sdkit serve --ui`), generating through the app's `service`."""
    from sdkit.ui.gradio_import import import_gradio

    gr = import_gradio()
    return gr.mount_gradio_app(fastapi_app, build_ui(service), path=path, server_name="127.0.0.1",
                               **_common_options(service))


def _output_dir(settings: UiSettings) -> Path:
    if settings.output_dir is not None:
        return settings.output_dir
    from sdkit.core.tasks import Task
    from sdkit.run.execute import default_output_dir

    return default_output_dir(Task.TXT2IMG).parent  # the folder `generate` saves <task>/ folders in


def launch_ui(settings: UiSettings, announce: Any = None) -> None:
    """Run the UI until Ctrl-C: its own service (one worker, warm models) and gradio's server."""
    settings.check()
    from sdkit.ui.gradio_import import import_gradio

    import_gradio()  # the missing-extra message before anything else is started
    if settings.models_dir is not None:
        # The run layer reads the models folder from the environment, as `SDKIT_MODELS_DIR=... sdkit generate` does.
        os.environ["SDKIT_MODELS_DIR"] = str(settings.models_dir.expanduser().resolve())
    from sdkit.service import Service

    service = Service(_output_dir(settings)).start()
    try:
        blocks = build_ui(service)
        blocks.queue(default_concurrency_limit=4)
        _app, local_url, _share = blocks.launch(
            server_name=settings.host, server_port=settings.port, share=False, inbrowser=False,
            auth=settings.credentials, prevent_thread_lock=True, quiet=True, show_error=True,
            **_common_options(service))
        if announce is not None:
            announce(f"sdkit UI at {local_url} (Ctrl-C stops it)")
        log.info("web UI listening on %s", local_url)
        blocks.block_thread()  # until Ctrl-C or SIGTERM; gradio closes its server then
    finally:
        service.close(timeout=10)
    if announce is not None:
        announce("sdkit UI: stopped")
