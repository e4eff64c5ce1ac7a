"""`sdkit ui`: the web UI (Gradio) on this machine, generating through the same run layer as `generate`.

Thin: checking the flags happens in `sdkit.ui.launch`, everything else in `sdkit.ui`, imported only
when the command runs (Gradio is an optional extra and takes seconds to import).
"""

from __future__ import annotations

from pathlib import Path

import typer

from sdkit.cli.console import err


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but loopback needs --auth."),
    port: int = typer.Option(7861, "--port", help="TCP port (0: any free one)."),
    auth: str = typer.Option(None, "--auth", envvar="SDKIT_UI_AUTH", show_envvar=False,
                             help="USER:PASS: the login the UI asks for (as A1111's --gradio-auth)."),
    models_dir: Path = typer.Option(None, "--models-dir", help="The models folder (default: the config's, or $SDKIT_MODELS_DIR)."),
    output_dir: Path = typer.Option(None, "--output-dir", "-o", help="Where images are saved (default ./outputs/<task>/)."),
) -> None:
    """Open the web UI: txt2img, img2img, inpaint, upscale, presets and PNG info in the browser."""
    from sdkit.ui.launch import UiSettings, launch_ui, parse_auth

    settings = UiSettings(host=host, port=port, credentials=parse_auth(auth) if auth is not None else None,
                          models_dir=models_dir, output_dir=output_dir)
    launch_ui(settings, announce=lambda text: err.print(text))


def register(app: typer.Typer) -> None:
    app.command(name="ui")(ui)
