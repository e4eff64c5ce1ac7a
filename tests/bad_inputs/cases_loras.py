"""LoRA / LyCORIS files: unknown names, bad weights, files for another family or model, broken and hostile files
(in `<models folder>/Lora` or given by path), through `generate` (the tiny SD 1.x model, or the demo model for a
LoRA of the wrong widths) and `sdkit prompt`; and `--from-image` with a LoRA the image records but the folder
lacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lora_files import write_loha, write_lora

from bad_inputs.builders import folder, image, infotext, raw, safetensors, text
from bad_inputs.corpus import Ctx, case

RUN = ("--model", "{sd1}", "-W", "64", "-H", "64", "--steps", "1", "--seed", "1", "-o", "{out}")
DEMO_RUN = ("-W", "64", "-H", "64", "--steps", "1", "--seed", "1", "-o", "{out}")
FOLDER = "{models}/Lora"
ENTRY = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}


def _in_loras(name: str, build: Callable[[Path, Ctx], object]) -> Callable[[Ctx], None]:
    """Setup: one file, `name`, in the models folder's Lora/."""
    def setup(ctx: Ctx) -> None:
        target = ctx.models / "Lora" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        build(target, ctx)
    return setup


def _lora_of(model: str, writer: Callable[..., Path] = write_lora) -> Callable[[Path, Ctx], object]:
    """A LoRA built from one of the corpus's tiny models' layers."""
    def build(path: Path, ctx: Ctx) -> None:
        writer(ctx.model(model), path)
    return build


def _lora_folder_is_a_file(ctx: Ctx) -> None:
    ctx.models.mkdir(exist_ok=True)
    (ctx.models / "Lora").write_text("not a folder")


GOOD = _in_loras("add_detail.safetensors", _lora_of("sd1"))

CASES = [
    case("lora-unknown-name-did-you-mean", "generate", "a fox <lora:add_detial:0.8>", *RUN, setup=GOOD,
         words=("unknown LoRA 'add_detial'", "did you mean 'add_detail'")),
    case("lora-flag-unknown-name", "generate", "a fox", "--lora", "nope", *RUN, words=("unknown LoRA 'nope'",
         "put nope.safetensors in", FOLDER)),
    case("lora-flag-weight-not-a-number", "generate", "a fox", "--lora", "add_detail:strong", *RUN, setup=GOOD,
         words=("the weight 'strong' in --lora add_detail:strong is not a number",)),
    case("lora-tag-weight-not-a-number", "generate", "a fox <lora:add_detail:lots>", *RUN, setup=GOOD,
         words=("the weight 'lots' in <lora:add_detail:lots> is not a number",)),
    case("lora-flag-empty", "generate", "a fox", "--lora", "", *RUN, words=("--lora names no LoRA",)),
    case("lora-flag-is-a-tag", "generate", "a fox", "--lora", "<lora:add_detail:1>", *RUN, setup=GOOD,
         words=("not a prompt tag",)),
    case("lora-sdxl-on-sd1", "generate", "a fox <lora:xl>", *RUN, setup=_in_loras("xl.safetensors", _lora_of("sdxl")),
         words=("LoRA 'xl' (xl.safetensors) is made for SDXL models", "is SD 1.x")),
    case("lora-sdxl-on-sd1-dry-run", "generate", "a fox", "--lora", "xl", *RUN, "--dry-run",
         setup=_in_loras("xl.safetensors", _lora_of("sdxl")), words=("is made for SDXL models",)),
    case("lora-other-widths-does-not-fit", "generate", "a fox <lora:narrow>", *DEMO_RUN,
         setup=_in_loras("narrow.safetensors", _lora_of("sd1")),
         words=("LoRA 'narrow' (narrow.safetensors) does not fit the model sdkit-shapes", "size mismatch")),
    case("loha-other-widths-does-not-fit", "generate", "a fox <lora:narrow_hada>", *DEMO_RUN,
         setup=_in_loras("narrow_hada.safetensors", _lora_of("sd1", write_loha)),
         words=("LoRA 'narrow_hada' (narrow_hada.safetensors) does not fit the model sdkit-shapes",)),
    case("lora-header-not-json", "generate", "a fox <lora:broken>", *RUN,
         setup=_in_loras("broken.safetensors", safetensors(b"{not json", data=b"")),
         words=("broken.safetensors", "not valid JSON", "LoRA file")),
    case("lora-truncated", "generate", "a fox <lora:cut>", *RUN,
         setup=_in_loras("cut.safetensors", safetensors({"lora_unet_x.lora_down.weight": ENTRY}, data=b"\0" * 4)),
         words=("cut.safetensors", "truncated")),
    case("lora-empty-file", "generate", "a fox <lora:empty>", *RUN,
         setup=_in_loras("empty.safetensors", raw(b"")), words=("empty.safetensors", "empty")),
    case("lora-text-file-renamed", "generate", "a fox <lora:notes>", *RUN,
         setup=_in_loras("notes.safetensors", text("my favourite prompts\n" * 20)),
         words=("notes.safetensors", "not a .safetensors file")),
    case("lora-keys-of-a-model", "generate", "a fox <lora:model>", *RUN,
         setup=_in_loras("model.safetensors", safetensors({"model.diffusion_model.out.2.weight": ENTRY})),
         words=("model.safetensors", "not a LoRA file sdkit can read")),
    case("lora-oft-refused", "generate", "a fox <lora:oft>", *RUN,
         setup=_in_loras("oft.safetensors", safetensors({"lora_unet_x.oft_blocks": ENTRY})),
         words=("oft.safetensors", "an OFT file", "LoRA, LoCon, LoHa and LoKr")),
    case("lora-pickled-by-path", "generate", "a fox", "--lora", "{old.pt}", *RUN, files={"old.pt": raw(b"\x80\x02}.")},
         words=("{old.pt}", "pickled LoRA file", "convert it to .safetensors")),
    case("lora-missing-path", "generate", "a fox", "--lora", "{in}/gone.safetensors:0.5", *RUN,
         words=("LoRA file {in}/gone.safetensors does not exist",)),
    case("lora-folder-without-weights", "generate", "a fox", "--lora", "{in}/empty_lora", *RUN,
         files={"empty_lora": folder("README.md")}, words=("a folder without LoRA weights",
                                                            "pytorch_lora_weights.safetensors")),
    case("lora-tag-names-a-system-file", "generate", "a fox <lora:/etc/passwd>", *RUN,
         words=("/etc/passwd", "not a .safetensors file")),
    case("lora-folder-is-a-file", "generate", "a fox <lora:add_detail>", *RUN, setup=_lora_folder_is_a_file,
         words=("unknown LoRA 'add_detail'",)),
    case("lora-prompt-names-missing-files", "prompt", "a fox <lora:nope:0.5>", code=0,
         words=("LoRA nope: weight 0.5, not found in", FOLDER), log=()),
    case("from-image-lora-missing", "generate", "--from-image", "{lora.png}", *RUN, "--dry-run",
         files={"lora.png": image(parameters=infotext("a fox <lora:grain:0.5>", Lora_hashes='"grain: 0123456789ab"'))},
         words=("{lora.png} was made with LoRA 'grain' [0123456789ab], which is not in", FOLDER,
                "looked up by hash, then by name")),
]
