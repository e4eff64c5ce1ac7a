"""`sdkit serve`: a long-running server with AUTOMATIC1111's `/sdapi/v1` API and sdkit's own `/v1`.

Thin: checking the flags happens here, everything else in `sdkit.server` (the FastAPI app, imported
only when the command runs, so `sdkit --help` never loads a web framework) and `sdkit.service` (the
job queue and the warm models). `--ui` mounts the web UI of `sdkit.ui` at `/` in the same process,
sharing the one queue.
"""

from __future__ import annotations

from pathlib import Path

import typer

from sdkit.cli.console import err
from sdkit.core.errors import UserInputError


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but loopback needs --api-auth."),
    port: int = typer.Option(7860, "--port", help="TCP port (A1111's is 7860)."),
    api_auth: str = typer.Option(None, "--api-auth", envvar="SDKIT_API_AUTH", show_envvar=False,
                                 help="USER:PASS[,USER2:PASS2]: HTTP basic auth on every endpoint (as A1111's "
                                      "--api-auth); or set $SDKIT_API_AUTH, which ps does not show."),
    models_dir: Path = typer.Option(None, "--models-dir", help="The models folder (default: the config's, or $SDKIT_MODELS_DIR)."),
    output_dir: Path = typer.Option(None, "--output-dir", "-o",
                                    help="Where images are saved, in <task>/ folders (default: the config's output_dir, else ./outputs)."),
    max_loaded: int = typer.Option(1, "--max-loaded", help="Models kept loaded between requests (least recently used dropped first); 0: no limit."),
    max_queue: int = typer.Option(16, "--max-queue", help="Jobs that may wait; past that, HTTP 503 with Retry-After."),
    max_body_mb: float = typer.Option(32.0, "--max-body-mb", help="Largest request body in MB."),
    max_pixels: int = typer.Option(4_194_304, "--max-pixels", help="Largest width x height x batch size of one request."),
    max_steps: int = typer.Option(150, "--max-steps", help="Most sampling steps one request may ask for."),
    ui: bool = typer.Option(False, "--ui", help="Also serve the web UI at / (needs sdkit-cli[ui])."),
) -> None:
    """Serve image generation over HTTP: A1111's /sdapi/v1 API, sdkit's /v1 jobs, OpenAPI docs at /docs."""
    from sdkit.server.launch import require_server_extra
    from sdkit.server.settings import ServerSettings, parse_api_auth

    require_server_extra()  # first: without FastAPI nothing else here matters
    credentials = parse_api_auth(api_auth) if api_auth is not None else ()
    settings = ServerSettings(host=host, port=port, credentials=credentials, models_dir=models_dir,
                              output_dir=output_dir,
                              max_loaded=max_loaded, max_queue=max_queue,
                              max_body_bytes=int(max_body_mb * 1024 * 1024), max_pixels=max_pixels,
                              max_steps=max_steps)
    settings.check()
    mount_ui = _ui_mounter() if ui else None
    from sdkit.server.launch import run_server

    run_server(settings, mount_ui=mount_ui, announce=lambda text: err.print(text))


def _ui_mounter():
    """`sdkit.ui.mount_ui`, or a clear error when the web UI is not installed (or not written yet)."""
    try:
        import sdkit.ui as ui_package
    except ModuleNotFoundError as error:
        if error.name not in ("sdkit.ui", "gradio"):
            raise
        raise UserInputError("--ui needs the web UI, which is not installed here",
                             "pip install 'sdkit-cli[ui]', or leave out --ui") from None
    mount_ui = getattr(ui_package, "mount_ui", None)
    if mount_ui is None:
        raise UserInputError("--ui: this sdkit's web UI (sdkit.ui) has no mount_ui function",
                             "update sdkit, or leave out --ui")
    return mount_ui


def register(app: typer.Typer) -> None:
    app.command(name="serve")(serve)
