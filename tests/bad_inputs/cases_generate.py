"""`sdkit generate`: out-of-range numbers, unknown names, odd prompts, output folders, model references.

Checks made while planning use `--dry-run`; the few that need the loaded model (its scheduler's
training steps, its text encoder's layers) or a write (a full disk, no hard links) run for real at
64x64, 1-2 steps. Ctrl-C and SIGTERM while the model loads and while images are drawn are sent to a
real process.
"""

from __future__ import annotations

import signal

from bad_inputs.builders import declared_png, image, preset, text
from bad_inputs.corpus import Ctx, case
from bad_inputs.places import full_disk, read_only_folder

SD1 = ("--model", "{sd1}")
DRY = ("--dry-run", "-o", "{out}")
FAST = ("-W", "64", "-H", "64", "--steps", "1", "--seed", "1", "-o", "{out}")


def dry(id: str, *args: str, **options):
    """A case of `generate --model {sd1} ARGS --dry-run`."""
    return case(id, "generate", *SD1, "--prompt", "a fox", *args, *DRY, **options)


def _out_is_a_file(ctx: Ctx) -> None:
    ctx.out.write_text("not a folder")


def _out_read_only(ctx: Ctx) -> None:
    read_only_folder(ctx, ctx.out)


def _out_full_after_one(ctx: Ctx) -> None:
    full_disk(ctx, ctx.out, "16k")  # four pages: room for one 64x64 PNG of the tiny model (about 10 kB), not two


def _no_hard_links(ctx: Ctx) -> None:
    """As on exFAT or some network mounts: os.link fails with EPERM (the writer must fall back)."""
    import errno
    import os

    def refuse(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    ctx.monkeypatch.setattr(os, "link", refuse)


def _out_full(ctx: Ctx) -> None:
    full_disk(ctx, ctx.out, "4k")  # one page: not even the first 64x64 PNG (about 10 kB) fits


# Click's usage errors (landed in 086213d: logged as "usage error: ..."). Its messages do not repeat the value
# given ('abc'), and `--model` without a value prints no "Try ... --help" line: both reported, not cases.
CLICK_ERRORS = [
    ("seed-not-a-number", ("generate", "--seed", "abc"), ("Invalid value for '--seed'", "valid integer")),
    ("steps-a-fraction", ("generate", "--steps", "1.5"), ("Invalid value for '--steps'", "valid integer")),
    ("width-not-a-number", ("generate", "-W", "wide"), ("Invalid value for '--width'",)),
    ("unknown-option", ("generate", "--stepz", "3"), ("No such option: --stepz", "--steps")),
    ("unknown-command", ("generat",), ("No such command 'generat'", "Did you mean 'generate'")),
    ("unknown-root-option", ("--bogus", "models", "list"), ("No such option: --bogus",)),
    ("missing-argument", ("presets", "show"), ("Missing argument",)),
    ("prompt-steps-zero", ("prompt", "a fox", "--steps", "0"),
     ("Invalid value for '--steps'", "greater than or equal to 1")),
    ("inspect-without-files", ("inspect",), ("Missing argument",)),
]

CASES = [
    # ----------------------------------------------------------------------- numbers out of range
    dry("steps-zero", "--steps", "0", words=("steps=0", "at least 1")),
    dry("steps-negative", "--steps", "-5", words=("steps=-5", "at least 1")),
    case("steps-huge", "generate", *SD1, "--prompt", "a fox", *FAST[:4], "--steps", "100000", "-o", "{out}",
         words=("steps=100000", "1..1000")),
    case("steps-over-training-steps", "generate", *SD1, "--prompt", "a fox", *FAST[:4], "--steps", "1001",
         "-o", "{out}", words=("steps=1001", "1..1000")),
    dry("cfg-nan", "--cfg-scale", "nan", words=("cfg_scale=nan", "between 0 and 50")),
    dry("cfg-inf", "--cfg-scale", "inf", words=("cfg_scale=inf", "between 0 and 50")),
    dry("cfg-negative", "--cfg-scale", "-1", words=("cfg_scale=-1", "between 0 and 50")),
    dry("cfg-huge", "--cfg-scale", "1e300", words=("cfg_scale=1e+300", "between 0 and 50")),
    dry("width-not-multiple-of-8", "--width", "63", words=("width=63", "multiple of 8")),
    dry("width-zero", "--width", "0", words=("width=0", "between 64 and 2048")),
    dry("width-huge", "--width", "100000", words=("width=100000",)),
    dry("height-negative", "--height", "-64", words=("height=-64",)),
    dry("batch-size-zero", "--batch-size", "0", words=("batch_size=0", "between 1 and")),
    dry("batch-size-huge", "--batch-size", "100000", words=("batch_size=100000",)),
    dry("batch-count-zero", "--batch-count", "0", words=("batch_count=0",)),
    dry("seed-below-minus-one", "--seed", "-2", words=("seed=-2",)),
    dry("seed-beyond-64-bits", "--seed", str(2**64), words=(f"seed={2**64}",)),
    dry("strength-without-image", "--strength", "0.5", words=("--strength cannot be used with txt2img",)),
    dry("mask-blur-negative", "--mask-blur", "-1", "--image", "{in.png}", "--mask", "{mask.png}",
        files={"in.png": image(), "mask.png": image(mode="L", color=255)}, words=("mask_blur=-1", "between 0 and 64")),
    dry("clip-skip-zero", "--clip-skip", "0", words=("clip_skip=0", "between 1 and 12")),
    dry("clip-skip-huge", "--clip-skip", "100", words=("clip_skip=100", "between 1 and 12")),
    case("clip-skip-beyond-the-text-encoder", "generate", *SD1, "--prompt", "a fox", *FAST, "--clip-skip", "5",
         words=("clip_skip=5", "2 layers")),
    # ---------------------------------------------------------------------------- unknown names
    dry("sampler-unknown", "--sampler", "DPM++ 9M Turbo", words=("DPM++ 9M Turbo", "sampler")),
    dry("schedule-unknown", "--schedule", "zigzag", words=("zigzag", "schedule")),
    dry("scheduler-class-name-unknown", "--scheduler", "FooDiscreteScheduler", words=("FooDiscreteScheduler",)),
    dry("rng-unknown", "--rng", "gpu", words=("rng='gpu'",)),
    dry("device-unknown", "--device", "tpu", words=("device='tpu'", "not a device sdkit knows")),
    dry("dtype-unknown", "--dtype", "fp8", words=("dtype='fp8'",)),
    dry("mode-unknown", "--mode", "warp", words=("unknown mode 'warp'",)),
    dry("task-unknown", "--task", "paint", words=("paint", "task")),
    dry("engine-unknown", "--engine", "sd99", words=("sd99", "engine")),
    dry("engine-of-another-task", "--engine", "realesrgan", words=("engine 'realesrgan' does not do txt2img",)),
    dry("prediction-type-unknown", "--prediction-type", "sideways", words=("sideways", "prediction")),
    dry("upscaler-missing", "--upscale", "NoSuchUpscaler_x4", words=("NoSuchUpscaler_x4",)),
    dry("upscale-tile-negative", "--upscale", "RealESRGAN_x4plus", "--tile", "-1",
        words=("upscale_tile=-1", "at least 32")),
    dry("vae-missing", "--vae", "{in}/no-such-vae.safetensors", words=("no-such-vae",)),
    case("vae-not-a-safetensors-file", "generate", *SD1, "--prompt", "a fox", *FAST, "--vae", "{vae.safetensors}",
         files={"vae.safetensors": image(fmt="PNG")}, words=("{vae.safetensors}", "not a .safetensors file")),
    case("vae-text-file", "generate", *SD1, "--prompt", "a fox", *FAST, "--vae", "{vae.ckpt}",
         files={"vae.ckpt": text("not weights\n" * 10)}, words=("{vae.ckpt}", "text file")),
    # ------------------------------------------------------------------------------- the model
    case("model-empty", "generate", "--model", "", "--prompt", "a fox", *DRY, words=("model", "empty")),
    case("model-blank", "generate", "--model", "  ", "--prompt", "a fox", *DRY, words=("model",)),
    case("model-missing-file", "generate", "--model", "{in}/nope.safetensors", "--prompt", "a fox", *DRY,
         words=("nope.safetensors",)),
    case("model-unknown-name", "generate", "--model", "dreamshaper_8", "--prompt", "a fox", *DRY,
         words=("dreamshaper_8",)),
    case("model-empty-folder", "generate", "--model", "{in}/empty", "--prompt", "a fox", *DRY,
         setup=lambda ctx: (ctx.inputs / "empty").mkdir(), words=("{in}/empty",)),
    case("model-uncached-hub-id", "generate", "--model", "someone/some-model", "--prompt", "a fox", *DRY,
         words=("someone/some-model",)),
    case("models-dir-is-a-file", "generate", "--model", "dreamshaper_8", "--prompt", "a fox", *DRY,
         files={"models.txt": text("not a folder")}, env={"SDKIT_MODELS_DIR": "{models.txt}"},
         words=("{models.txt}", "SDKIT_MODELS_DIR")),
    dry("sdxl-preset-on-sd1-model", "--preset", "txt2img/sdxl", words=("tiny-sd1 is a sd1 model", "sdxl")),
    # ------------------------------------------------------------------------------- prompts
    dry("prompt-with-escape-sequence", "--negative-prompt", "red \x1b[31malert", words=("negative_prompt=",)),
    case("prompt-undecodable-bytes", "generate", *SD1, "--prompt", "caf\udce9", *DRY, words=("prompt=",)),
    dry("prompt-delete-character", "--prompt", "a\x7ffox", words=("prompt=", "U+007F")),
    dry("prompt-c1-control-sequence-introducer", "--prompt", "a \x9b31m fox",
        words=("prompt=", "U+009B", "would act on a terminal")),
    dry("prompt-bidi-override-is-shown-escaped", "--negative-prompt", "abc \u202egnp.exe", code=0,
        words=("\\u202e",), log=()),
    dry("prompt-emoji-and-cjk", "--negative-prompt", "狐 🦊 キツネ", code=0, words=("狐 🦊 キツネ",), log=()),
    dry("prompt-whitespace-only", "--negative-prompt", "   \t  ", code=0, words=("everything resolved and valid",),
        log=()),
    case("prompt-given-twice", "generate", "a fox", "--prompt", "a cat", *SD1, *DRY, words=("twice",)),
    case("prompt-nul-through-preset", "generate", "--preset", "{nul.yaml}", *SD1, *DRY,
         files={"nul.yaml": preset('params:\n  prompt: "a\\0b"\n')}, words=("nul.yaml:4", "U+0000")),
    case("negative-prompt-bell-through-preset", "generate", "--preset", "{bell.yaml}", *SD1, *DRY,
         files={"bell.yaml": preset('params:\n  negative_prompt: "ding\\a"\n')},
         words=("bell.yaml", "negative_prompt")),
    # ---------------------------------------------------------------------------- output folder
    case("output-dir-empty", "generate", *SD1, "--prompt", "a fox", *FAST[:-2], "-o", "",
         words=("output folder is empty",)),
    case("output-dir-blank", "generate", *SD1, "--prompt", "a fox", *FAST[:-2], "-o", " ",
         words=("output folder is empty",)),
    case("output-dir-is-a-file", "generate", *SD1, "--prompt", "a fox", *FAST, setup=_out_is_a_file,
         words=("cannot create the output folder {out}",)),
    case("output-dir-under-a-file", "generate", *SD1, "--prompt", "a fox", *FAST[:-2], "-o", "{notes.txt}/images",
         files={"notes.txt": image(fmt="PNG")}, words=("{notes.txt}",)),
    case("output-dir-read-only", "generate", *SD1, "--prompt", "a fox", *FAST, setup=_out_read_only,
         words=("{out}", "not writable")),
    case("output-dir-full-disk", "generate", *SD1, "--prompt", "a fox", *FAST, setup=_out_full, code=1,
         words=("{out}", "is full")),
    case("output-dir-fills-up-after-one-image", "generate", *SD1, "--prompt", "a fox", *FAST, "--batch-count", "3",
         setup=_out_full_after_one, code=1, kept=1, words=("{out} is full", "kept 1 image(s) there: 00000-1.png")),
    # --------------------------------------------- Click's own usage errors: its message and "Try ... --help"
    *[case(f"click-{name}", *args, words=words, hint="Try 'sdkit", log=("usage error:", words[0]))
      for name, args, words in CLICK_ERRORS],
    # ------------------------------------------------------------------------------------ signals
    case("sigterm-while-loading", "--verbose", "generate", *SD1, "--prompt", "a fox", *FAST, process=True,
         signals=(signal.SIGTERM,), after="loading tiny-sd1", code=130,
         words=("stopped by SIGTERM while loading the model",), log=("Interrupted: stopped by SIGTERM",)),
    case("two-ctrl-c-while-loading", "--verbose", "generate", *SD1, "--prompt", "a fox", *FAST, process=True,
         signals=(signal.SIGINT, signal.SIGINT), after="loading tiny-sd1", code=130,
         words=("stopped by SIGINT while loading the model",), log=("Interrupted: stopped by SIGINT",)),
    case("ctrl-c-while-drawing", "--verbose", "generate", *SD1, "--prompt", "a fox", *FAST[:6], "--seed", "1",
         "--batch-count", "300", "-o", "{out}", process=True, signals=(signal.SIGINT,), after="saved ", code=130,
         kept=(1, 299), words=("kept: {out}/00000-1.png", "stopped by the user"), log=("Interrupted",)),
    case("sigterm-while-drawing", "--verbose", "generate", *SD1, "--prompt", "a fox", *FAST[:6], "--seed", "1",
         "--batch-count", "300", "-o", "{out}", process=True, signals=(signal.SIGTERM,), after="saved ", code=130,
         kept=(1, 299), words=("kept: {out}/00000-1.png",), log=("Interrupted",)),
    # ------------------------------------------------------------------------------- upscale inputs
    case("upscale-model-missing", "generate", "--preset", "upscale/real-esrgan", "--image", "{good.png}",
         "--model", "{in}/nope.pth", *DRY, files={"good.png": image()}, words=("nope.pth",)),
    case("upscale-model-a-text-file", "generate", "--preset", "upscale/real-esrgan", "--image", "{good.png}",
         "--model", "{x4.pth}", "-o", "{out}", files={"good.png": image(), "x4.pth": text("not weights\n" * 10)},
         words=("x4.pth is not a readable PyTorch weight file",)),
    case("upscale-without-image", "generate", "--preset", "upscale/real-esrgan", "--model", "{x4}", *DRY,
         words=("upscale needs an input image",)),
    case("upscale-image-bomb", "generate", "--task", "upscale", "--model", "{x4}", "--image", "{bomb.png}", *DRY,
         files={"bomb.png": declared_png(30000, 30000)}, words=("{bomb.png}", "too large")),
    case("upscale-scale-zero", "generate", "--task", "upscale", "--model", "{x4}", "--image", "{good.png}",
         "--scale", "0", *DRY, files={"good.png": image()}, words=("scale=0",)),
    case("upscale-tile-overlap-too-big", "generate", "--task", "upscale", "--model", "{x4}", "--image", "{good.png}",
         "--tile", "64", "--tile-overlap", "48", *DRY, files={"good.png": image()},
         words=("tile_overlap=48", "half the tile")),
    # ------------------------------------------------------------- a file system without hard links
    case("no-hard-links-still-saves", "generate", *SD1, "--prompt", "a fox", *FAST, setup=_no_hard_links, code=0,
         kept=1, words=("made 1 image",), log=("no hard links",)),
]
