"""The hires fix (`--hires-*`): options on the wrong task, out-of-range values, unknown upscalers and
samplers, a second pass too large for the engine, unreadable sizes, presets and images that ask for it.

Everything is checked while planning, so the cases use `--dry-run`; the one limit that needs the
loaded model (the second pass's schedule against its training steps) runs for real at 64x64, 1 step.
"""

from __future__ import annotations

from bad_inputs.builders import image, infotext, preset
from bad_inputs.corpus import case

SD1 = ("--model", "{sd1}")
DRY = ("--dry-run", "-o", "{out}")
HIRES = ("--hires-scale", "2")


def dry(id: str, *args: str, **options):
    """A case of `generate --model {sd1} --prompt 'a fox' ARGS --dry-run`."""
    return case(id, "generate", *SD1, "--prompt", "a fox", *args, *DRY, **options)


def hires_png(**fields) -> object:
    """An A1111 PNG of a txt2img with the hires fix (`fields` add to or replace its keys)."""
    return image(parameters=infotext(**{"Denoising_strength": 0.7, "Hires_upscale": 2, "Hires_upscaler": "Latent",
                                        **fields}))


CASES = [
    # -------------------------------------------------------------------------------- the task
    dry("hires-on-img2img", "--image", "{in.png}", *HIRES, files={"in.png": image()},
        words=("--hires-scale cannot be used with img2img", "second pass of txt2img")),
    dry("hires-on-inpaint", "--image", "{in.png}", "--mask", "{mask.png}", "--hires-size", "128x128",
        files={"in.png": image(), "mask.png": image(mode="L", color=255)},
        words=("--hires-height, --hires-width cannot be used with inpaint",)),
    case("hires-on-upscale", "generate", "--task", "upscale", "--model", "{x4}", "--image", "{in.png}", *HIRES, *DRY,
         files={"in.png": image()}, words=("--hires-scale cannot be used with upscale",)),
    case("hires-in-an-img2img-preset", "generate", "--preset", "{i2i.yaml}", *SD1, "--image", "{in.png}", *DRY,
         files={"i2i.yaml": preset("params:\n  hires_scale: 2\n", header="schema_version: 1\ntask: img2img\n"),
                "in.png": image()},
         words=("i2i.yaml", "hires_scale", "is for txt2img only")),
    dry("hires-option-without-hires", "--hires-steps", "5",
        words=("hires_steps=5", "has no effect without --hires-scale or --hires-size")),
    # ---------------------------------------------------------------------------- numbers out of range
    dry("hires-scale-below-one", "--hires-scale", "0.5", words=("hires_scale=0.5", "between 1 and 16")),
    dry("hires-scale-nan", "--hires-scale", "nan", words=("hires_scale=nan", "between 1 and 16")),
    dry("hires-target-too-large", "-W", "1536", "-H", "1536", *HIRES,
        words=("hires_scale=2", "makes a 3072x3072 second pass from 1536x1536", "between 64 and 2048")),
    dry("hires-size-too-large", "--hires-size", "4096x4096",
        words=("makes a 4096x4096 second pass", "between 64 and 2048")),
    dry("hires-denoise-above-one", *HIRES, "--hires-denoise", "1.5", words=("hires_denoise=1.5", "must be in (0, 1]")),
    dry("hires-denoise-zero", *HIRES, "--hires-denoise", "0", words=("hires_denoise=0", "must be in (0, 1]")),
    dry("hires-steps-negative", *HIRES, "--hires-steps", "-1", words=("hires_steps=-1", "between 0 and 1000")),
    dry("hires-cfg-huge", *HIRES, "--hires-cfg-scale", "99", words=("hires_cfg_scale=99", "between 0 and 50")),
    dry("hires-size-wins-over-scale", "--hires-size", "128x0", "--hires-scale", "3", code=0,
        words=("second pass at 128x128",), log=()),  # a size wins over a scale, as in A1111
    # ------------------------------------------------------------------------------- names and formats
    dry("hires-upscaler-misspelt", *HIRES, "--hires-upscaler", "Latnet",
        words=("unknown hires upscaler 'Latnet'", "did you mean 'Latent'")),
    dry("hires-upscaler-missing-model", *HIRES, "--hires-upscaler", "4x-UltraSharp",
        words=("unknown hires upscaler '4x-UltraSharp'",)),
    dry("hires-upscaler-missing-file", *HIRES, "--hires-upscaler", "{in}/nope.pth",
        words=("upscaler model file not found: {in}/nope.pth",)),
    dry("hires-sampler-unknown", *HIRES, "--hires-sampler", "Heun Turbo 9000", words=("Heun Turbo 9000", "sampler")),
    dry("hires-schedule-unknown", *HIRES, "--hires-schedule", "zigzag", words=("zigzag", "schedule")),
    dry("hires-size-not-a-size", "--hires-size", "big", words=("--hires-size 'big' is not a size WxH",)),
    dry("hires-size-zero-by-zero", "--hires-size", "0x0", words=("--hires-size '0x0' is not a size WxH",)),
    dry("hires-prompt-control-character", *HIRES, "--hires-prompt", "a\x01fox",
        words=("hires_prompt=", "U+0001")),
    # ------------------------------------------------------------------------------- the loaded model
    case("hires-schedule-longer-than-the-model", "generate", *SD1, "--prompt", "a fox", "-W", "64", "-H", "64",
         "--steps", "1", "--seed", "1", *HIRES, "--hires-steps", "900", "--hires-denoise", "0.5", "-o", "{out}",
         words=("the hires pass runs 900 steps at denoising strength 0.5, from a schedule of 1800 steps",
                "1..1000")),
    # ------------------------------------------------------------------------------- --from-image
    case("from-image-hires-fix-runs-both-passes", "generate", "--from-image", "{hires.png}", *SD1, *DRY, code=0,
         files={"hires.png": hires_png()}, words=("second pass at 128x128, upscaler Latent (latent)",),
         not_words=("first pass only",), log=("{hires.png}",)),
    case("from-image-hires-upscaler-not-here", "generate", "--from-image", "{hires.png}", *SD1, *DRY,
         files={"hires.png": hires_png(Hires_upscaler="4x-UltraSharp")},
         words=("unknown hires upscaler '4x-UltraSharp'", "recorded in {hires.png}'s metadata")),
    case("from-image-hires-resize-unreadable", "generate", "--from-image", "{hires.png}", *SD1, *DRY,
         files={"hires.png": hires_png(Hires_upscale=None, Hires_resize="wide")},
         words=("{hires.png}: its metadata records an unreadable Hires resize: 'wide'",)),
    case("from-image-hires-steps-unreadable", "generate", "--from-image", "{hires.png}", *SD1, *DRY,
         files={"hires.png": hires_png(Hires_steps="many")},
         words=("{hires.png}: its metadata records an unreadable Hires steps: 'many'", "--hires-steps")),
    case("from-image-hires-too-large-for-the-engine", "generate", "--from-image", "{hires.png}", *SD1, *DRY,
         files={"hires.png": hires_png(Size="1536x1536")},
         words=("hires_scale=2", "3072x3072", "read from {hires.png}'s metadata")),
    case("from-image-hires-unknown-keys-are-named", "generate", "--from-image", "{hires.png}", *SD1, *DRY, code=0,
         files={"hires.png": hires_png(Hires_checkpoint="other.safetensors")},
         words=("hires fix settings sdkit does not use", "Hires checkpoint")),
]
