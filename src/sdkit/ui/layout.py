"""The web UI's components: the generate tabs and shared settings, results, PNG info, and the presets
side panel. Only layout lives here; `wiring.py` connects the components to sdkit.

Elements a person (or a browser test) looks for have stable `elem_id`s: `sdkit-<field>` for each form
field, `sdkit-generate`, `sdkit-gallery`, `sdkit-preset-apply`, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdkit.ui.form import FORM_FIELDS, FormField
from sdkit.ui.presets_panel import ALL, LIST_HEADERS

TITLE = "sdkit"
# Tabs in A1111's order; their ids are the task names the run layer takes.
TASK_TABS = (("txt2img", "txt2img"), ("img2img", "img2img"), ("inpaint", "Inpaint"), ("upscale", "Upscale"))
PNG_INFO_TAB = "pnginfo"
LOADING = "Loading the presets…"
# The hint line of a notification (`hint: ...`) on its own line; the progress bar fills its box.
CSS = """
.toast-text, .toast-body { white-space: pre-line; }
#sdkit-progress progress { width: 100%; }
"""


@dataclass
class Components:
    """Every component the wiring needs, by role."""

    form: list[Any] = field(default_factory=list)  # in FORM_FIELDS order
    extra: dict[str, Any] = field(default_factory=dict)


def _choices(form_field: FormField) -> list[tuple[str, str]]:
    blank = [("(default)", "")]
    if form_field.key == "sampler":
        from sdkit.samplers import sampler_table

        # A1111's labels, which run A1111's computation (DPM++ 2S a, DPM++ 3M SDE and Restart have no other)
        names = [spec.display_name for spec in sampler_table().samplers.values()
                 if spec.supported or spec.a1111_faithful]
        return blank + [("Automatic", "automatic")] + [(name, name) for name in names]
    if form_field.key == "schedule":
        from sdkit.samplers import SCHEDULES

        return blank + [(schedule.label, schedule.label) for schedule in SCHEDULES if schedule.supported]
    if form_field.key == "model":
        from sdkit.models.resolve import list_models

        return blank + [(ref.name, str(ref.location)) for ref in list_models()]
    return blank


def _form_component(gr: Any, form_field: FormField) -> Any:
    common = {"label": form_field.label, "elem_id": f"sdkit-{form_field.key}"}
    if form_field.info:
        common["info"] = form_field.info
    if form_field.kind == "text":
        return gr.Textbox(lines=2, value="", **common)
    if form_field.kind == "choice":
        return gr.Dropdown(choices=_choices(form_field), value="", allow_custom_value=True, **common)
    # Text, not gr.Number: a number field cannot be blank, and blank means "the default" here.
    return gr.Textbox(value="", placeholder="default", max_lines=1, **common)


def _settings(gr: Any, parts: Components) -> None:
    by_key = {}
    for form_field in FORM_FIELDS:
        by_key[form_field.key] = _form_component(gr, form_field)
        by_key[form_field.key].unrender()
    rows = (("prompt",), ("negative_prompt",), ("model", "sampler", "schedule"),
            ("steps", "cfg_scale", "seed"), ("width", "height", "batch_size", "batch_count"),
            ("strength", "mask_blur", "scale"))
    for row in rows:
        with gr.Row():
            for key in row:
                by_key[key].render()
    parts.form = [by_key[form_field.key] for form_field in FORM_FIELDS]


def _task_tabs(gr: Any, parts: Components) -> None:
    extra = parts.extra
    with gr.Tabs(selected="txt2img", elem_id="sdkit-tabs") as extra["tabs"]:
        with gr.Tab("txt2img", id="txt2img", elem_id="sdkit-tab-txt2img") as extra["tab_txt2img"]:
            gr.Markdown("Text to image: the prompt and settings below.")
        with gr.Tab("img2img", id="img2img", elem_id="sdkit-tab-img2img") as extra["tab_img2img"]:
            extra["img2img_image"] = gr.Image(label="Input image", type="filepath", elem_id="sdkit-img2img-image",
                                              sources=["upload", "clipboard"], height=280)
        with gr.Tab("Inpaint", id="inpaint", elem_id="sdkit-tab-inpaint") as extra["tab_inpaint"]:
            extra["inpaint_editor"] = gr.ImageEditor(
                label="Image and mask: paint over what to repaint", type="pil", format="png",
                sources=["upload", "clipboard"], elem_id="sdkit-inpaint-editor", height=320)
        with gr.Tab("Upscale", id="upscale", elem_id="sdkit-tab-upscale") as extra["tab_upscale"]:
            extra["upscale_image"] = gr.Image(label="Image to upscale", type="filepath", elem_id="sdkit-upscale-image",
                                              sources=["upload", "clipboard"], height=280)
            extra["upscaler"] = gr.Textbox(label="Upscaler model", elem_id="sdkit-upscaler",
                                           info="a file, or a name in the models folder; blank: the engine's default")
        with gr.Tab("PNG Info", id=PNG_INFO_TAB, elem_id="sdkit-tab-pnginfo") as extra["tab_pnginfo"]:
            _png_info(gr, parts)


def _png_info(gr: Any, parts: Components) -> None:
    extra = parts.extra
    with gr.Row():
        extra["png_file"] = gr.Image(label="Drop an sdkit or A1111 PNG", type="filepath", elem_id="sdkit-png-file",
                                     sources=["upload", "clipboard"], height=280)
        with gr.Column():
            extra["png_text"] = gr.Textbox(label="Parameters", lines=6, interactive=False, elem_id="sdkit-png-text")
            with gr.Row():
                extra["send_txt2img"] = gr.Button("Send to txt2img", elem_id="sdkit-send-txt2img")
                extra["send_img2img"] = gr.Button("Send to img2img", elem_id="sdkit-send-img2img")
    extra["png_fields"] = gr.Dataframe(headers=["field", "value"], value=[], interactive=False, wrap=True,
                                       type="array", elem_id="sdkit-png-fields")


def _results(gr: Any, parts: Components) -> None:
    extra = parts.extra
    with gr.Row():
        extra["generate"] = gr.Button("Generate", variant="primary", elem_id="sdkit-generate", scale=3)
        extra["interrupt"] = gr.Button("Interrupt", variant="stop", elem_id="sdkit-interrupt", scale=1)
    extra["progress"] = gr.HTML("", elem_id="sdkit-progress")
    extra["gallery"] = gr.Gallery(label="Results", columns=4, height=300, elem_id="sdkit-gallery",
                                  allow_preview=True, object_fit="contain")
    extra["infotext"] = gr.Textbox(label="Infotext of the selected image", lines=4, interactive=False,
                                   elem_id="sdkit-infotext")


def _presets_panel(gr: Any, parts: Components) -> None:
    from sdkit.ui.form import TASKS

    extra = parts.extra
    with gr.Sidebar(label="Presets", open=True, position="left", width=500, elem_id="sdkit-presets"):
        gr.Markdown("### Presets\nBuilt-in, plugin and user presets, as `sdkit presets list` shows them.")
        with gr.Row():
            extra["filter_task"] = gr.Dropdown(choices=[ALL, *TASKS], value=ALL, label="Task",
                                               elem_id="sdkit-filter-task")
            extra["filter_source"] = gr.Dropdown(choices=[ALL], value=ALL, label="Source", allow_custom_value=True,
                                                 elem_id="sdkit-filter-source")
        extra["preset_table"] = gr.Dataframe(headers=LIST_HEADERS, value=[], interactive=False, wrap=True,
                                             type="array", max_height=300, elem_id="sdkit-preset-table",
                                             column_widths=["26%", "13%", "12%", "11%", "12%", "26%"])
        extra["preset_name"] = gr.Dropdown(choices=[], label="Preset", allow_custom_value=True,
                                           elem_id="sdkit-preset-name")
        with gr.Row():
            extra["apply"] = gr.Button("Apply", variant="primary", elem_id="sdkit-preset-apply")
            extra["refresh"] = gr.Button("Refresh list", elem_id="sdkit-preset-refresh")
        # Until the page's load event has restored the last preset (wiring.py); tests wait for it to change.
        extra["applied"] = gr.Markdown(LOADING, elem_id="sdkit-preset-applied")
        extra["preset_diff"] = gr.Dataframe(headers=["field", "form now", "after Apply"], value=[],
                                            interactive=False, type="array", label="What Apply changes",
                                            elem_id="sdkit-preset-diff")
        extra["preset_yaml"] = gr.Code(value="", language="yaml", label="Effective YAML", interactive=False,
                                       elem_id="sdkit-preset-yaml")


def build_layout(gr: Any) -> tuple[Any, Components]:
    """The Blocks with every component, unwired."""
    parts = Components()
    with gr.Blocks(title=TITLE, analytics_enabled=False) as blocks:
        parts.extra["task"] = gr.State("txt2img")
        parts.extra["preset_state"] = gr.State(None)  # the applied preset's name
        parts.extra["job_state"] = gr.State(None)  # this session's running job
        parts.extra["images_state"] = gr.State([])  # infotexts of the gallery's images
        parts.extra["png_state"] = gr.State(None)  # the PNG info's recalled form and task
        parts.extra["pending"] = gr.State(None)  # a preset loaded by Apply, before it goes on the form
        gr.Markdown(f"## {TITLE}: Stable Diffusion, the same runs as the command line")
        _presets_panel(gr, parts)
        _task_tabs(gr, parts)
        with gr.Accordion("Settings", open=True):
            _settings(gr, parts)
        _results(gr, parts)
    return blocks, parts
