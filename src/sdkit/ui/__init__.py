"""sdkit's web UI (`sdkit ui`, `sdkit serve --ui`): Gradio Blocks over the same run layer as the CLI.

    from sdkit.ui import mount_ui, launch_ui, UiSettings
    mount_ui(fastapi_app, service, path="/")     # on `sdkit serve`'s app, sharing its Service
    launch_ui(UiSettings(port=7861))            # on its own, with its own Service

Gradio is an optional extra (`sdkit-cli[ui]`) and is imported only when one of these runs. The parts:
`form` (the form's fields as `generate` flags), `presets_panel` (list, show, diff, apply, restore),
`pnginfo` (a PNG's parameters as `inspect` and `--from-image` read them), `generation` (the form as a
job of `sdkit.service`), `notices` (errors as the CLI prints them), `layout` and `wiring` (gradio).
"""

from sdkit.ui.launch import UiSettings, build_ui, launch_ui, mount_ui, parse_auth

__all__ = ["UiSettings", "build_ui", "launch_ui", "mount_ui", "parse_auth"]
