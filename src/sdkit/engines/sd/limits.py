"""The loaded model's own limits on steps, img2img/inpaint strength and clip skip, checked before sampling.

`sdkit.core.params` checks what holds for every model (steps at least 1, clip skip 1..12, strength in
(0, 1]). Inside those ranges some values still fail on a particular model, deep inside diffusers and
with errors that name no option (`ValueError: num_inference_steps ... train_timesteps`, `IndexError:
tuple index out of range`, a reshape of an empty tensor). These checks read the limits off the loaded
components' configs (and the timesteps a copy of the scheduler would pick) and refuse such values
first, naming the range this model allows. They change nothing, so every value they let through
gives the image it gave before.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sdkit.plugin import UserInputError


def check_steps(scheduler: Any, steps: int) -> int | None:
    """Steps within what the sampler's scheduler can split this model's noise schedule into.

    A model is trained on `num_train_timesteps` discrete timesteps (1000 for every SD model): DDIM and
    DDPM refuse more steps than that, and the others would repeat timesteps. LCM (and TCD) take their
    steps from a shorter distillation schedule of `original_inference_steps` (50) and refuse more.
    Returns the most steps allowed (None when the config does not say).
    """
    config = scheduler.config
    name = type(scheduler).__name__
    maximum = int(config.get("num_train_timesteps") or 0) or None
    reason = f"the model's noise schedule has {maximum} training timesteps; 20-30 steps is usual"
    original = config.get("original_inference_steps")
    if original and (maximum is None or int(original) < maximum):
        maximum = int(original)
        reason = (f"{name} picks its steps from a distilled schedule of {maximum} (original_inference_steps); "
                  "4-8 is usual")
    if maximum is not None and steps > maximum:
        refuse_steps(steps, maximum, reason, name)
    return maximum


def refuse_steps(steps: int, maximum: int, reason: str, scheduler_name: str | None = None) -> None:
    what = f"this model's scheduler ({scheduler_name})" if scheduler_name else "this model's scheduler"
    raise UserInputError(f"steps={steps}: {what} allows 1..{maximum}", f"pass --steps {maximum} or fewer: {reason}")


def planned_step_limit(model_folder: Path | None, sampler_id: str) -> tuple[int, str, str | None]:
    """`check_steps`'s limit, its reason and the model's own scheduler class, read from the model's
    scheduler config file before anything is loaded.

    Every SD model is trained on 1000 timesteps; a folder's `scheduler/scheduler_config.json` says so
    (or otherwise). The LCM sampler takes its steps from a 50-step distilled schedule
    (`original_inference_steps`, diffusers' default when the config does not say).
    """
    config: dict[str, Any] = {}
    if model_folder is not None:
        config_file = model_folder / "scheduler" / "scheduler_config.json"
        try:
            loaded = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
            config = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            config = {}  # loading the model reports a broken config, naming it
    maximum = _positive_int(config.get("num_train_timesteps")) or 1000
    reason = f"the model's noise schedule has {maximum} training timesteps; 20-30 steps is usual"
    if sampler_id == "lcm":
        original = _positive_int(config.get("original_inference_steps")) or 50
        if original < maximum:
            maximum = original
            reason = (f"LCM picks its steps from a distilled schedule of {maximum} (original_inference_steps); "
                      "4-8 is usual")
    model_scheduler = config.get("_class_name")
    return maximum, reason, model_scheduler if isinstance(model_scheduler, str) else None


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def check_timesteps(scheduler: Any, steps: int, sampler_label: str, schedule_label: str,
                    strength: float | None = None) -> None:
    """Refuse a step count at which diffusers' scheduler would pick timesteps it cannot run.

    Two ways, both found by setting the timesteps of a copy of the scheduler (the run's own is not
    touched) and both ending in IndexError or AssertionError deep in sampling:
    - DDIM, DDPM, PLMS and LCM index the noise schedule by timestep; with "leading" spacing and
      `steps_offset` 1 (SD 1.x's config) 1000 steps reach timestep 1000, one past the last.
    - txt2img finds where to start by looking up the first timestep and takes the second match when
      there are two, so the run starts a step late and ends past its sigmas. The multistep samplers
      round timesteps to integers, and on SD's noise schedule the Beta schedule type crowds its first
      sigmas together: from 32 steps on, the first two round to one. (img2img and inpaint are safe:
      their pipelines set the start index.)
    `strength` is img2img's and inpaint's (None for txt2img): they run only the last
    `steps × strength` timesteps, as diffusers' `get_timesteps` cuts them.
    """
    probe = type(scheduler).from_config(scheduler.config)
    indexes_by_timestep = not hasattr(probe, "sigmas")

    def problem(count: int) -> str | None:
        probe.set_timesteps(count)
        timesteps = probe.timesteps
        if strength is not None:
            timesteps = timesteps[(count - denoising_steps(count, strength)) * probe.order:]
        last = len(probe.alphas_cumprod) - 1
        if indexes_by_timestep and len(timesteps) and int(timesteps.max()) > last:
            return f"would reach timestep {int(timesteps.max())}, past the model's last ({last})"
        if strength is None and len(timesteps) > 1 and bool(timesteps[0] == timesteps[1]):
            return "would repeat its first timestep"
        return None

    reason = problem(steps)
    if reason is None:
        return
    most = steps - 1  # one step never fails either way, so `most` ends at 1 at the latest
    while problem(most) is not None:
        most -= 1
    raise UserInputError(
        f"steps={steps}: sampler {sampler_label!r} with schedule type {schedule_label!r} allows 1..{most} on "
        f"this model (at {steps} steps diffusers' {type(scheduler).__name__} {reason} and fails)",
        f"pass --steps {most} or fewer, or another schedule type")


def denoising_steps(steps: int, strength: float) -> int:
    """The steps img2img and inpaint really run: diffusers' own `min(int(steps × strength), steps)`."""
    return min(int(steps * strength), steps)


def check_strength(steps: int, strength: float, task: str, max_steps: int | None = None) -> None:
    """img2img and inpaint run `steps × strength` steps (rounded down): refuse a product below one.

    diffusers' inpaint pipelines raise a ValueError there; its img2img pipelines return no image at all
    (or fail on an empty tensor), so the run would end in a crash or a broken-engine report.
    """
    if denoising_steps(steps, strength) >= 1:
        return
    fewest_steps = max(1, int(1 / strength))
    while denoising_steps(fewest_steps, strength) < 1:
        fewest_steps += 1
    lowest_strength = math.ceil(100 / steps) / 100  # in hundredths, as people type it
    while denoising_steps(steps, lowest_strength) < 1:
        lowest_strength = round(lowest_strength + 0.01, 2)
    raise_strength = f"--strength to {min(lowest_strength, 1.0):g} or more"
    hint = (f"raise --steps to {fewest_steps} or more, or {raise_strength}"
            if max_steps is None or fewest_steps <= max_steps else f"raise {raise_strength}")
    raise UserInputError(
        f"strength={strength:g} with steps={steps} leaves no step to run: {task} runs steps × strength "
        f"= {steps * strength:g}, rounded down to 0", hint)


def check_clip_skip(pipeline: Any, clip_skip: int, dual_text_encoder: bool) -> None:
    """Clip skip within the layers this model's text encoder(s) have.

    Clip skip k reads the hidden states k layers from the end (SD 1.x/2.x: `hidden_states[-k]`); SDXL
    starts from the penultimate layer (`hidden_states[-(k + 1)]`, in sdkit and in diffusers alike).
    An encoder of n layers has n + 1 hidden states (the token embeddings, then one per layer), so k
    can be 1..n + 1, or 1..n for SDXL; the last of those reads the embeddings before any layer.
    """
    if clip_skip <= 1:
        return  # the default path: the last (SDXL: penultimate) layer, which every encoder has
    names = ("text_encoder", "text_encoder_2") if dual_text_encoder else ("text_encoder",)
    layers = [int(encoder.config.num_hidden_layers) for encoder in
              (getattr(pipeline, name, None) for name in names) if encoder is not None]
    if not layers:
        return
    maximum = min(layers) if dual_text_encoder else layers[0] + 1
    if clip_skip <= maximum:
        return
    has = (f"text encoders have {' and '.join(map(str, layers))} layers" if len(layers) > 1
           else f"text encoder has {layers[0]} layers")
    raise UserInputError(
        f"clip_skip={clip_skip}: this model's {has}, so clip skip can be 1..{maximum}",
        f"pass --clip-skip {maximum} or less: 1 reads the {'penultimate' if dual_text_encoder else 'last'} "
        f"layer and each step one layer earlier; {maximum} reads the token embeddings before any layer",
    )
