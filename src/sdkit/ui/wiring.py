"""The web UI's behaviour: each component's events, connected to sdkit's own functions.

Errors are sdkit's `SdkitError`s shown as error notifications (`error: ...` / `hint: ...`, as the CLI
prints them); raising leaves every output as it was, so a preset that cannot be applied leaves the
form unchanged. Warnings (a migrated preset) become warning notifications.

No `from __future__ import annotations` here: gradio finds the `gr.SelectData` parameter of a handler
by its annotation, which must be the class itself, not a string.
"""

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

import sdkit.ui.generation as generation  # not `from sdkit.ui import`: that is the package, which imports launch
import sdkit.ui.presets_panel as presets_panel
from sdkit.core.errors import SdkitError
from sdkit.ui.layout import TASK_TABS, Components
from sdkit.ui.notices import error_text
from sdkit.ui.pnginfo import read_png_info

# Errors stay until closed (their fix has to be read); warnings go after a while.
WARNING_SECONDS = 20


def _notified(gr: Any, handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler` with sdkit's errors raised as gradio errors (an error notification, outputs unchanged)."""

    @wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except SdkitError as error:
            raise gr.Error(error_text(error), duration=None) from None

    return wrapper


def _applied_text(name: str | None, restored: bool = False) -> str:
    if not name:
        return "No preset applied."
    return f"Applied preset **{name}**" + (" (restored from the last session)." if restored else ".")


def _wire_presets(gr: Any, parts: Components) -> list[tuple[Callable[..., Any], list[Any], list[Any]]]:
    """The presets panel's events; returns what runs on page load: the listing, then the restore."""
    extra = parts.extra
    form = parts.form
    apply_outputs = [*form, extra["preset_state"], extra["applied"], extra["tabs"], extra["task"], extra["preset_diff"]]

    def listing(task_filter: str, source_filter: str) -> tuple[Any, Any, Any]:
        names = presets_panel.preset_names()
        sources = presets_panel.preset_sources()
        rows = presets_panel.preset_rows(task_filter, source_filter if source_filter in sources else presets_panel.ALL)
        return rows, gr.Dropdown(choices=names), gr.Dropdown(choices=sources)

    def show(name: str, *values: Any) -> tuple[str, list[list[str]]]:
        if not name:
            return "", []
        try:
            return presets_panel.preset_yaml(name), presets_panel.preset_diff_rows(name, values)
        except SdkitError as error:  # shown in the YAML box; Apply raises it as a notification
            commented = "\n".join(f"# {line}" for line in error_text(error).splitlines())
            return f"# this preset cannot be applied:\n{commented}\n", []

    def applied_outputs(applied: presets_panel.AppliedPreset, restored: bool = False) -> list[Any]:
        for warning in applied.warnings:
            gr.Warning(warning, duration=WARNING_SECONDS)
        return [*applied.values, applied.name, _applied_text(applied.name, restored),
                gr.Tabs(selected=applied.task), applied.task, []]

    def load_for_apply(name: str) -> presets_panel.AppliedPreset:
        if not name:
            raise gr.Error("error: no preset chosen\nhint: choose one in the list above, then Apply", duration=None)
        return presets_panel.apply_preset(name)

    def restore() -> list[Any]:
        """On page load: the last applied preset (the UI's or `generate --preset`'s), put on the form."""
        unchanged = [gr.skip()] * len(apply_outputs)
        unchanged[apply_outputs.index(extra["applied"])] = _applied_text(None)  # the page is ready now
        name = presets_panel.remembered_preset_name()
        if name is None:
            return unchanged
        try:
            return applied_outputs(presets_panel.apply_preset(name, remember=False), restored=True)
        except SdkitError as error:
            gr.Warning(f"the last applied preset {name} cannot be restored:\n{error_text(error)}",
                       duration=WARNING_SECONDS)
            return unchanged

    def picked_row(rows: Any, event: gr.SelectData) -> Any:
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        try:
            return rows[row][0]
        except (IndexError, TypeError, KeyError):
            return gr.skip()

    filters = [extra["filter_task"], extra["filter_source"]]
    list_outputs = [extra["preset_table"], extra["preset_name"], extra["filter_source"]]
    for control in filters:
        control.change(_notified(gr, listing), filters, list_outputs)
    extra["refresh"].click(_notified(gr, listing), filters, list_outputs)
    extra["preset_table"].select(picked_row, [extra["preset_table"]], extra["preset_name"])
    extra["preset_name"].change(show, [extra["preset_name"], *form], [extra["preset_yaml"], extra["preset_diff"]])
    # Loading first, into a state: an error there is a notification and touches no visible component;
    # only a preset that loaded is put on the form.
    extra["apply"].click(_notified(gr, load_for_apply), [extra["preset_name"]], [extra["pending"]]).success(
        applied_outputs, [extra["pending"]], apply_outputs)
    return [(_notified(gr, listing), filters, list_outputs), (restore, [], apply_outputs)]


def _wire_tabs(gr: Any, parts: Components) -> None:
    extra = parts.extra
    for task, _label in TASK_TABS:
        extra[f"tab_{task}"].select(lambda task=task: task, None, extra["task"])


def _wire_generation(gr: Any, parts: Components, service: Any) -> None:
    extra = parts.extra

    def submit(task: str, preset_name: str | None, upscaler: str, img2img_image: str | None, editor: Any,
               upscale_image: str | None, *values: Any) -> str:
        """Plan and queue the form as a job (a bad value is an error notification here, before any job)."""
        image_path = img2img_image if task == "img2img" else upscale_image if task == "upscale" else None
        inputs = generation.editor_inputs(editor) if task == "inpaint" else {}
        return generation.submit_form(service, task, values, preset_name=preset_name, upscaler=upscaler,
                                      image_path=image_path, input_images=inputs)

    def follow(job_id: str, task: str) -> Iterator[list[Any]]:
        for view in generation.follow_job(service, job_id):
            saved = [image for image in view.images if image.path is not None]
            items = [(str(image.path), f"seed {image.seed}" if image.seed is not None else task) for image in saved]
            infotexts = [image.infotext for image in saved]
            progress = _progress_html(generation.progress_text(view), view.progress)
            yield [progress, items, infotexts, infotexts[0] if infotexts else gr.skip()]

    def report_failure(job_id: str) -> None:
        failure = generation.failure_of(service.get(job_id))
        if failure is not None:
            raise gr.Error(error_text(failure), duration=None)

    def selected(infotexts: list[str], event: gr.SelectData) -> str:
        index = event.index if isinstance(event.index, int) else 0
        return infotexts[index] if 0 <= index < len(infotexts) else ""

    inputs = [extra["task"], extra["preset_state"], extra["upscaler"], extra["img2img_image"],
              extra["inpaint_editor"], extra["upscale_image"], *parts.form]
    outputs = [extra["progress"], extra["gallery"], extra["images_state"], extra["infotext"]]
    # No gradio limit: every click becomes a job of the service's queue, which shows its place in line.
    # Errors are raised by the steps without visible outputs, so no component shows an error badge.
    extra["generate"].click(_notified(gr, submit), inputs, [extra["job_state"]], concurrency_limit=None).success(
        follow, [extra["job_state"], extra["task"]], outputs, concurrency_limit=None, show_progress="hidden").then(
        report_failure, [extra["job_state"]], None)
    extra["interrupt"].click(lambda job_id: generation.interrupt_job(service, job_id), [extra["job_state"]], None,
                             concurrency_limit=None)
    extra["gallery"].select(selected, [extra["images_state"]], extra["infotext"])


def _progress_html(text: str, fraction: float) -> str:
    from html import escape

    return f'<progress value="{fraction:.3f}" max="1"></progress><div class="sdkit-progress-text">{escape(text)}</div>'


def _wire_png_info(gr: Any, parts: Components) -> None:
    extra = parts.extra

    def read(path: str | None) -> dict[str, Any] | None:
        if not path:
            return None
        info = read_png_info(path)
        return {"infotext": info.infotext, "fields": info.fields, "values": info.values, "warnings": info.warnings}

    def shown(recalled: dict[str, Any] | None) -> list[Any]:
        if not recalled:
            return ["", []]
        for warning in recalled["warnings"]:
            gr.Warning(warning, duration=WARNING_SECONDS)
        return [recalled["infotext"], [[key, value] for key, value in recalled["fields"].items()]]

    def check_read(recalled: dict[str, Any] | None) -> None:
        if not recalled:
            raise gr.Error("error: no PNG read yet\nhint: drop an sdkit or A1111 PNG on PNG Info first", duration=None)

    def send(target: str) -> Callable[[Any], list[Any]]:
        def sent(recalled: dict[str, Any]) -> list[Any]:
            # Like `--from-image`: the image's parameters, no preset.
            return [*recalled["values"], None, _applied_text(None), gr.Tabs(selected=target), target]

        return sent

    extra["png_file"].change(_notified(gr, read), [extra["png_file"]], [extra["png_state"]]).success(
        shown, [extra["png_state"]], [extra["png_text"], extra["png_fields"]])
    send_outputs = [*parts.form, extra["preset_state"], extra["applied"], extra["tabs"], extra["task"]]
    for target in ("txt2img", "img2img"):
        extra[f"send_{target}"].click(check_read, [extra["png_state"]], None).success(
            send(target), [extra["png_state"]], send_outputs)


def wire(gr: Any, blocks: Any, parts: Components, service: Any) -> None:
    """Connect every component of `build_layout`'s Blocks to sdkit."""
    with blocks:
        (listing, filters, list_outputs), (restore, _none, apply_outputs) = _wire_presets(gr, parts)
        _wire_tabs(gr, parts)
        _wire_generation(gr, parts, service)
        _wire_png_info(gr, parts)
        blocks.load(listing, filters, list_outputs).then(restore, None, apply_outputs)
