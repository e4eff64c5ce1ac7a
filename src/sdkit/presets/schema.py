"""The preset file format (schema version 1) as pydantic models, and its JSON Schema for editors.

A preset names its task and carries a `params` mapping checked against that task's request model
(`sdkit.core.requests.REQUEST_TYPES`), so a preset can set exactly what a command-line flag can.
One model per task, joined on `task`, lets the JSON Schema tell an editor which params fit which task.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from sdkit.core.requests import REQUEST_TYPES
from sdkit.core.tasks import Mode, Task

CURRENT_SCHEMA_VERSION = 1

# The keys a preset file may have at its top level, in the order `presets show` writes them.
TOP_LEVEL_KEYS = ("schema_version", "task", "engine", "mode", "model", "description", "params")


class PresetBase(BaseModel):
    """Fields shared by the presets of every task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(
        description="Version of the preset format; sdkit migrates older versions when it reads them."
    )
    engine: str | None = Field(
        None, description="The pipeline to run (an entry in `sdkit.pipelines`, e.g. sd15, sdxl, realesrgan)."
    )
    mode: Mode = Field(Mode.NORMAL, description="normal, or a few-step regime: lcm, turbo, lightning.")
    model: str | None = Field(
        None, description="A model name, file, folder or hub id; unset uses the engine's default model."
    )
    description: str = Field("", description="One line shown by `sdkit presets list`.")


def _preset_model(task: Task) -> type[PresetBase]:
    """The preset model of one task: the shared fields plus that task's request as `params`."""
    request_type = REQUEST_TYPES[task]
    annotations = {"task": Literal[task.value], "params": request_type}  # type: ignore[valid-type]
    namespace: dict[str, Any] = {
        "__annotations__": annotations,
        "__doc__": f"A {task.value} preset.",
        "__module__": __name__,
        "task": Field(description="What the preset does."),
        "params": Field(default_factory=request_type,
                        description=f"Parameters of the {task.value} request; flags override them."),
    }
    return type(f"{request_type.__name__.removesuffix('Request')}Preset", (PresetBase,), namespace)


@cache
def preset_types() -> dict[Task, type[PresetBase]]:
    """The preset model of each task; built on first use, since only the JSON Schema needs them."""
    return {task: _preset_model(task) for task in Task}


def preset_json_schema() -> dict[str, Any]:
    """JSON Schema of a preset file, for editors (yaml-language-server) and other tools."""
    any_preset = TypeAdapter(
        Annotated[Union[tuple(preset_types().values())], Field(discriminator="task")]  # noqa: UP007
    )
    schema = any_preset.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sdkit preset",
        "description": f"An sdkit preset file, schema version {CURRENT_SCHEMA_VERSION}.",
        **schema,
    }
