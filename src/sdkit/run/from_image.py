"""`generate --from-image`: what an sdkit or A1111 PNG records about the run that made it.

`read_recorded_run` reads the image's infotext into a `RecordedRun`: the task, the parameters by
request field name, the model (by name and hash), the VAE, the prediction type, the mode and the
`--upscale` step. The task follows from the fields: an image with only "Postprocess" fields was
upscaled from a file; "Mask blur" marks an inpaint and "Denoising strength" an img2img, except where
A1111's hires fix wrote it: an image with "Hires upscale" or "Hires resize" is a txt2img with the hires
fix, its "Denoising strength" the second pass's, and its other "Hires ..." keys are recalled too (ones
sdkit does not know, such as "Hires checkpoint", are named in a warning). A PNG does not hold the input
image or mask it was made from, so the user gives those again (`missing_inputs` says which).

`make_plan` layers the recorded values between the preset and the flags, and names the image in any
problem a recorded value causes. `check_recorded_embeddings` finds the textual-inversion embeddings
the image records (`TI hashes`) in the embeddings folder, by hash first, then by name, and names the
ones that are missing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.core.tasks import Task
from sdkit.networks.lora_use import LORA_HASHES_KEY, parse_hashes_field
from sdkit.samplers.recorded import (
    COMFYUI_BATCH_INDEX_KEY,
    COMFYUI_BATCH_SIZE_KEY,
    COMFYUI_SAMPLER_KEY,
    COMFYUI_SCHEDULER_KEY,
)

log = logging.getLogger(__name__)

# (request field, infotext key, type) of the generation parameters; "Size" is read on its own.
GENERATION_FIELDS = (
    ("steps", "Steps", int),
    ("cfg_scale", "CFG scale", float),
    ("seed", "Seed", int),
    ("sampler", "Sampler", str),
    ("schedule", "Schedule type", str),
    ("clip_skip", "Clip skip", int),
    ("ensd", "ENSD", int),
    ("variation_seed", "Variation seed", int),
    ("variation_strength", "Variation seed strength", float),
    ("strength", "Denoising strength", float),
    ("mask_blur", "Mask blur", int),
    ("comfyui_batch_size", COMFYUI_BATCH_SIZE_KEY, int),
    ("comfyui_batch_index", COMFYUI_BATCH_INDEX_KEY, int),
)
# The upscaler's fields (sdkit.upscale.api's keys, after A1111's Extras tab), by the upscale task's field names.
UPSCALE_FIELDS = (
    ("scale", "Postprocess upscale by", float),
    ("tile", "Postprocess upscaler tile", int),
    ("tile_overlap", "Postprocess upscaler tile overlap", int),
)
UPSCALER_KEY = "Postprocess upscaler"
HIRES_PREFIX = "Hires "  # A1111's hires fix: Hires upscale, Hires steps, Hires upscaler, Hires resize, ...
# The hires fix's keys by request field ("Hires resize: WxH" and "Denoising strength" are read on their own).
HIRES_FIELDS = (
    ("hires_scale", "Hires upscale", float),
    ("hires_steps", "Hires steps", int),
    ("hires_upscaler", "Hires upscaler", str),
    ("hires_sampler", "Hires sampler", str),
    ("hires_schedule", "Hires schedule type", str),
    ("hires_prompt", "Hires prompt", str),
    ("hires_negative_prompt", "Hires negative prompt", str),
    ("hires_cfg_scale", "Hires CFG Scale", float),
)
HIRES_RESIZE_KEY = "Hires resize"
PREDICTION_TYPES = ("epsilon", "v_prediction")
# What each task needs that a PNG cannot hold, as flags.
INPUT_FLAGS = {Task.IMG2IMG: ("--image FILE",), Task.INPAINT: ("--image FILE", "--mask FILE"),
               Task.UPSCALE: ("--image FILE",)}
_SHOWN_VALUE = 60  # longest metadata value quoted in a message
MAX_RECORDED_EMBEDDINGS = 100
SHOWN_MISSING = 10  # missing embeddings named in a message
EMPHASIS_BY_A1111_NAME = {"original": "original", "no norm": "no-norm", "ignore": "ignore", "none": "none"}


@dataclass(frozen=True)
class RecordedRun:
    """The run an image's metadata records (values are None where it records nothing)."""

    image: Path
    task: Task
    params: dict[str, Any]  # request fields of `task` (for txt2img/img2img/inpaint, upscale_* for the step)
    model_name: str | None = None  # the upscaler's name for an upscale
    model_hash: str | None = None
    vae: str | None = None
    prediction_type: str | None = None
    mode: str | None = None
    hires: dict[str, str] = field(default_factory=dict)
    embeddings: dict[str, str] = field(default_factory=dict)  # `TI hashes`: name -> 12-hex short hash
    lora_hashes: dict[str, str] = field(default_factory=dict)  # `Lora hashes`: name -> 12-hex short hash

    def describe(self) -> str:
        return f"{self.image}'s metadata"


def recorded_error(error: UserInputError, recorded: RecordedRun, what: str, hint: str) -> UserInputError:
    """`error` about a value recalled from an image, naming the image it came from."""
    return UserInputError(f"{error.message} ({what} recorded in {recorded.describe()})",
                          "; ".join(part for part in (error.hint, hint) if part))


def _shown(value: object) -> str:
    """A metadata value quoted in a message: its repr (control characters escaped), cut short."""
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE else text[:_SHOWN_VALUE] + "..."


def _value(image: Path, fields: dict[str, str], key: str, kind: type, flag: str) -> Any:
    raw = fields.get(key)
    if raw is None:
        return None
    if kind is str:
        return raw
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise UserInputError(f"{image}: its metadata records an unreadable {key}: {_shown(raw)}",
                             f"pass --{flag.replace('_', '-')} to set it yourself") from None


# sdkit before 0.3 ran A1111's sampler names on diffusers' schedulers (CHANGELOG.md, 0.3.0).
_OLD_SDKIT = re.compile(r"^sdkit 0\.[12](\.|$)")
_RNG_BY_FIELD = {"CPU": "cpu", "NV": "nv", "GPU": "device"}


def _recorded_rng(image: Path, recorded: str | None, made_by_sdkit: bool) -> str:
    """The noise source of a recorded run. No RNG field: A1111's default, the GPU's randn, which "nv"
    reproduces on any machine; sdkit leaves the field out only for `--rng device`."""
    if recorded is None:
        return "device" if made_by_sdkit else "nv"
    rng = _RNG_BY_FIELD.get(str(recorded).strip().upper())
    if rng is None:
        raise UserInputError(f"{image}: its metadata records an RNG sdkit does not know: {_shown(recorded)}",
                             "pass --rng cpu, nv or device")
    return rng


def _keep_diffusers_samplers(image: Path, version: str, params: dict[str, Any], names: list[str]) -> None:
    """Samplers that ran on diffusers' schedulers under A1111's labels (all of sdkit 0.1/0.2's; since 0.3 those
    recorded with a "Diffusers scheduler" field) are named "diffusers:<id>", which means those schedulers
    whatever the name (an id alone is ComfyUI's computation since 0.6), so the image is made again."""
    from sdkit.core.errors import SdkitError
    from sdkit.samplers import resolve_sampler

    for name in names:
        if not params.get(name):
            continue
        try:
            resolved = resolve_sampler(params[name])
        except SdkitError:
            continue  # reported with its hint when the run resolves it
        if resolved.a1111_sampling or resolved.comfyui_sampling:
            log.info("%s (%s) ran %r on diffusers' scheduler; using that computation again (%s %s), not "
                     "sdkit.sampling's", image, version or "no version", params[name], name, resolved.diffusers_name)
            params[name] = resolved.diffusers_name


def _comfyui_names(fields: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """The sampler and schedule of a pass sdkit computed as ComfyUI does (it records ComfyUI's names)."""
    sampler = fields.get(prefix + COMFYUI_SAMPLER_KEY)
    if not sampler:
        return {}
    field = "hires_" if prefix else ""
    return {f"{field}sampler": sampler, f"{field}schedule": fields.get(prefix + COMFYUI_SCHEDULER_KEY) or None}


def _task_of(fields: dict[str, str], hires: dict[str, str]) -> Task:
    if "Steps" not in fields and UPSCALER_KEY in fields:
        return Task.UPSCALE
    if hires:
        return Task.TXT2IMG
    if "Mask blur" in fields:
        return Task.INPAINT
    if "Denoising strength" in fields:
        return Task.IMG2IMG
    return Task.TXT2IMG


def read_recorded_run(image_path: Path) -> RecordedRun:
    """What `image_path`'s metadata records; `UserInputError` (naming the image) for unreadable values."""
    from sdkit.outputs.infotext import parse_infotext, read_png_parameters

    image = Path(image_path)
    info = parse_infotext(read_png_parameters(image))
    fields = info.fields
    hires = {key: value for key, value in fields.items() if key.startswith(HIRES_PREFIX)}
    task = _task_of(fields, hires)

    params: dict[str, Any] = {}
    if task is Task.UPSCALE:
        for name, key, kind in UPSCALE_FIELDS:
            params[name] = _value(image, fields, key, kind, name)
    else:
        params.update(prompt=info.prompt, negative_prompt=info.negative_prompt)
        for name, key, kind in GENERATION_FIELDS:
            params[name] = _value(image, fields, key, kind, name)
        if hires:  # the strength was the hires pass's; the first pass is a plain txt2img
            params["hires_denoise"] = params.pop("strength")
            params.update(_hires_params(image, hires))
        params.update(_size(image, fields, "Size", ("width", "height"), "pass --width and --height"))
        params.update(_size(image, fields, "Seed resize from", ("seed_resize_from_width", "seed_resize_from_height"),
                            "pass --seed-resize-from WxH"))
        version = str(fields.get("Version", "")).strip()
        params["rng"] = _recorded_rng(image, fields.get("RNG"), made_by_sdkit=version.startswith("sdkit "))
        if version.startswith("sdkit "):  # bit for bit needs the same backend: sdkit records OpenVINO only
            params["backend"] = "openvino" if str(fields.get("Backend", "")).strip().lower() == "openvino" else "torch"
        old = bool(_OLD_SDKIT.match(version))
        first_on_diffusers = old or "Diffusers scheduler" in fields
        hires_class = fields.get("Diffusers hires scheduler")  # absent: as the first pass
        hires_on_diffusers = old or (first_on_diffusers if hires_class is None else not hires_class.startswith("none"))
        ran_on_diffusers = ["sampler"] * first_on_diffusers + ["hires_sampler"] * hires_on_diffusers
        _keep_diffusers_samplers(image, version, params, ran_on_diffusers)
        # Recorded ComfyUI names (sdkit 0.6+) say which passes ran ComfyUI's computation; a hires pass that
        # records none of its own ran as the first pass did, unless it records its own sampler.
        params.update(_comfyui_names(fields))
        params.update(_comfyui_names(fields, HIRES_PREFIX))
        if fields.get("Emphasis"):  # A1111 names the mode ("No norm"); absent means its default, Original
            params["emphasis"] = EMPHASIS_BY_A1111_NAME.get(str(fields["Emphasis"]).strip().lower())
            if params["emphasis"] is None:
                raise UserInputError(f"{image}: its metadata records an emphasis mode sdkit does not know: "
                                     f"{_shown(fields['Emphasis'])}", "pass --emphasis original|no-norm|ignore|none")
        if fields.get(UPSCALER_KEY):
            params["upscale"] = fields[UPSCALER_KEY]
            for name, key, kind in UPSCALE_FIELDS:
                params[f"upscale_{name}"] = _value(image, fields, key, kind, name)

    prediction_type = fields.get("Prediction type")
    if prediction_type is not None and prediction_type not in PREDICTION_TYPES:
        raise UserInputError(f"{image}: its metadata records an unknown Prediction type: {_shown(prediction_type)}",
                             f"pass --prediction-type ({' or '.join(PREDICTION_TYPES)})")
    recorded = RecordedRun(
        image=image, task=task, params={key: value for key, value in params.items() if value is not None},
        embeddings=_ti_hashes(str(fields.get("TI hashes", ""))),
        lora_hashes=parse_hashes_field(fields.get(LORA_HASHES_KEY)),
        model_name=fields.get(UPSCALER_KEY) if task is Task.UPSCALE else fields.get("Model"),
        model_hash=None if task is Task.UPSCALE else fields.get("Model hash"),
        vae=fields.get("VAE"), prediction_type=prediction_type, mode=fields.get("Mode"), hires=hires,
    )
    log.info("recorded in %s: %s %s, model %s [%s], vae %s", image, task.value, recorded.params,
             recorded.model_name, recorded.model_hash, recorded.vae)
    return recorded


def _ti_hashes(value: str) -> dict[str, str]:
    """`TI hashes: "name: 0123456789ab, other: ..."` as {name: hash} (entries without a hash are left out)."""
    found: dict[str, str] = {}
    entries = value.split(",")
    if len(entries) > MAX_RECORDED_EMBEDDINGS:  # a real prompt uses a handful; a hostile one must not cost minutes
        log.warning("its metadata records %d embeddings; only the first %d are looked for", len(entries),
                    MAX_RECORDED_EMBEDDINGS)
    for entry in entries[:MAX_RECORDED_EMBEDDINGS]:
        name, _, short_hash = entry.rpartition(":")
        if name.strip() and short_hash.strip():
            found[name.strip()] = short_hash.strip().lower()
    return found


def check_recorded_embeddings(recorded: RecordedRun, prompt: str, negative_prompt: str) -> None:
    """Refuse, naming each one, when embeddings the image was made with (and the prompts still use) are missing.

    An embedding is there when a file of its name has its hash. A file of its name with another hash is a
    different version (a warning: the image will differ); a file with its hash under another name does
    not count, as the prompt uses an embedding by its file name (the hint says which file to rename).
    """
    from sdkit.networks.embedding_files import MAX_EMBEDDING_BYTES
    from sdkit.networks.embeddings import EmbeddingLibrary, embedding_short_hash, embeddings_folder
    from sdkit.runtime.config import models_dir

    texts = f"{prompt}\n{negative_prompt}".lower()  # the CLIP tokenizer lowercases: so does the lookup
    wanted = {name: short_hash for name, short_hash in recorded.embeddings.items()
              if name.lower() in texts and re.search(rf"(?<!\w){re.escape(name.lower())}(?!\w)", texts)}
    if not wanted:
        return
    library = EmbeddingLibrary.scan(embeddings_folder(models_dir()))
    by_hash: dict[str, str] = {}
    for name, path in library.files.items():
        try:
            if path.stat().st_size <= MAX_EMBEDDING_BYTES:
                by_hash.setdefault(embedding_short_hash(path), name)
        except OSError as error:
            log.warning("cannot hash embedding %s: %s", path, error)
    missing, renames = [], []
    for name, short_hash in wanted.items():
        if by_hash.get(short_hash) == name:
            continue
        if by_hash.get(short_hash) is not None:
            renames.append(f"{library.files[by_hash[short_hash]].name} is {name}: rename it to "
                           f"{name}{library.files[by_hash[short_hash]].suffix}")
        elif name in library.files:
            log.warning("%s was made with embedding %s [%s]; %s is another version of it, so the image will differ",
                        recorded.image, name, short_hash, library.files[name])
            continue
        missing.append(f"{_shown(name)} [{_shown(short_hash)[1:-1]}]")
    if missing:
        raise UserInputError(
            f"{recorded.image} was made with textual-inversion embedding(s) {', '.join(missing[:SHOWN_MISSING])}"
            f"{f' and {len(missing) - SHOWN_MISSING} more' if len(missing) > SHOWN_MISSING else ''}, which are not "
            f"in the embeddings folder {embeddings_folder(models_dir())}",
            "; ".join(renames) if renames else "put the embedding files there under those names "
            "(NAME.safetensors, .pt or .bin), or pass --prompt/--negative-prompt without them")


def _size(image: Path, fields: dict[str, str], key: str, names: tuple[str, str], hint: str) -> dict[str, int]:
    """A recorded "WxH" value as {names[0]: W, names[1]: H}; nothing when the key is absent."""
    raw = fields.get(key)
    if raw is None:
        return {}
    try:
        width, height = (int(part) for part in str(raw).lower().split("x"))
    except ValueError:
        raise UserInputError(f"{image}: its metadata records an unreadable {key}: {_shown(raw)}", hint) from None
    return {names[0]: width, names[1]: height}


def _hires_params(image: Path, hires: dict[str, str]) -> dict[str, Any]:
    """The hires fix's request fields from its infotext keys; unknown "Hires ..." keys are named in a warning."""
    params: dict[str, Any] = {name: _value(image, hires, key, kind, name) for name, key, kind in HIRES_FIELDS}
    params.update(_size(image, hires, HIRES_RESIZE_KEY, ("hires_width", "hires_height"),
                        "pass --hires-size WxH to set it yourself"))
    known = {key for _, key, _ in HIRES_FIELDS} | {HIRES_RESIZE_KEY} | {
        HIRES_PREFIX + COMFYUI_SAMPLER_KEY, HIRES_PREFIX + COMFYUI_SCHEDULER_KEY}
    unknown = [key for key in hires if key not in known]
    if unknown:
        log.warning("%s records hires fix settings sdkit does not use: %s", image,
                    ", ".join(f"{key}: {_shown(hires[key])}" for key in unknown))
    return params


def missing_inputs(recorded: RecordedRun, task: Task, given: set[str]) -> None:
    """Refuse, saying exactly what to pass, when `task` needs input files the user has not given."""
    needed = {Task.IMG2IMG: ["image"], Task.INPAINT: ["image", "mask"], Task.UPSCALE: ["image"]}.get(task, [])
    missing = [name for name in needed if name not in given]
    if not missing:
        return
    made = {Task.IMG2IMG: "by img2img from an input image", Task.INPAINT: "by inpainting an input image with a mask",
            Task.UPSCALE: "by upscaling an input image"}[task]
    flags = " ".join(flag for flag in INPUT_FLAGS[task] if flag.split()[0][2:] in missing)
    raise UserInputError(f"{recorded.image} was made {made}, and a PNG does not hold its inputs: pass "
                         f"the {' and the '.join(missing)} again",
                         f"add {flags}" + ("" if task is Task.UPSCALE else
                                           " (or --task txt2img to make it from the prompt alone)"))


def _plain_name(name: str) -> bool:
    """A recorded model name that may be offered to the model sources: never a path to somewhere on disk."""
    return not (name.startswith(("/", "~", ".")) or "\\" in name or ".." in name.split("/")
                or Path(name).expanduser().exists())


def recorded_model(recorded: RecordedRun) -> str | None:
    """The `--model` reference for the recorded model, looked up among local models.

    The hash wins over the name (a renamed file is still the same model). None means the engine's
    default model: the bundled demo model (sd15's), or an image that records no model. An upscale's
    model is the upscaler's name, which the upscale engine finds itself.
    """
    from sdkit.demo import DEMO_MODEL_NAME

    name, short_hash = recorded.model_name, recorded.model_hash
    if recorded.task is Task.UPSCALE:
        return name
    if name == DEMO_MODEL_NAME:
        return None
    if not name and not short_hash:
        log.warning("%s does not record its model; using the engine's default (pass --model to choose one)",
                    recorded.image)
        return None
    from sdkit.models import list_models, model_short_hash, resolve_model
    from sdkit.runtime.config import models_dir

    candidates = list_models()
    if short_hash:
        same = [ref for ref in candidates if model_short_hash(ref) == short_hash.lower()]
        # Copies of one model share a hash: the one of the recorded name, if it is among them.
        for ref in sorted(same, key=lambda ref: ref.name.lower() != (name or "").lower()):
            return str(ref.location)
    if name:
        for ref in candidates:
            if ref.name.lower() == name.lower():
                return str(ref.location)
        if _plain_name(name):
            try:  # a name that is itself a reference a source knows (a plugin's `solid:red`, a hub id)
                return str(resolve_model(name).location)
            except UserInputError:
                pass
    wanted = " ".join(part for part in (_shown(name) if name else None,
                                        f"[{_shown(short_hash)[1:-1]}]" if short_hash else None) if part)
    raise UserInputError(
        f"{recorded.image} was made with model {wanted}, which is not in the models folder",
        f"put that model in {models_dir()} or pass --model FILE_OR_FOLDER",
    )
