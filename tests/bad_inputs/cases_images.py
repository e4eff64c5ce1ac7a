"""Images: broken, foreign and odd input images and masks, decompression bombs, hostile PNG metadata.

`generate --image/--mask` cases run with `--dry-run`, which opens the inputs as the run would; `inspect`
reads metadata; `--from-image` recalls a run from an image's metadata.
"""

from __future__ import annotations

from bad_inputs.builders import (
    A1111_TEXT,
    animated_gif,
    corrupt_idat_png,
    declared_png,
    fifo,
    folder,
    gradient_mask,
    image,
    infotext,
    painted_on_transparent_mask,
    png_chunk,
    raw,
    text,
    text_chunk,
    text_chunk_bomb,
    truncated_png,
)
from bad_inputs.corpus import case

SD1 = ("--model", "{sd1}")
DRY = ("--dry-run", "-o", "{out}")
FAST = ("-W", "64", "-H", "64", "--steps", "1", "--seed", "1", "-o", "{out}")
GOOD = {"good.png": image()}


def img2img(id: str, *args: str, **options):
    """`generate --model {sd1} --image ... --dry-run`: the image (and mask) given in `args`."""
    return case(id, "generate", *SD1, "--prompt", "a fox", *args, *DRY, **options)


def inspect(id: str, *args: str, **options):
    return case(id, "inspect", *args, **options)


BOMB_TEXT = text_chunk(A1111_TEXT)
# Readable images in the modes and formats users meet: each is opened (and converted) as a good one.
ODD_IMAGES = {
    "cmyk.jpg": image(mode="CMYK", color=(0, 50, 100, 0)),
    "grey16.png": image(mode="I;16", color=30000),
    "palette.png": image(mode="P", color=3, transparency=3),
    "grey-alpha.png": image(mode="LA", color=(100, 128)),
    "one-bit.png": image(mode="1", color=1),
    "float.tiff": image(mode="F", color=0.5),
    "photo.webp": image(),
    "photo.bmp": image(),
    "jpeg-named.png": image(fmt="JPEG"),
    "tiny-odd-size.png": image(67, 91),
}


def truncated_jpeg():
    def build(path, ctx):
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), "red").save(buffer, format="JPEG")
        path.write_bytes(buffer.getvalue()[:300])
    return build

CASES = [
    # ------------------------------------------------------------------ broken and foreign images
    img2img("image-missing", "--image", "{in}/nope.png", words=("{in}/nope.png", "not found")),
    img2img("image-is-a-folder", "--image", "{in}/pictures", files={"pictures": folder("a.png")},
            words=("{in}/pictures", "is a folder")),
    img2img("image-empty-file", "--image", "{empty.png}", files={"empty.png": raw(b"")},
            words=("{empty.png}", "not a readable image")),
    img2img("image-text-file", "--image", "{notes.png}", files={"notes.png": text("my prompts\n" * 20)},
            words=("{notes.png}", "not a readable image")),
    img2img("image-truncated", "--image", "{cut.png}", files={"cut.png": truncated_png()},
            words=("input image {cut.png} is not a readable image", "truncated")),
    img2img("image-header-only", "--image", "{head.png}", files={"head.png": truncated_png(33)},
            words=("input image {head.png} is not a readable image",)),
    img2img("image-corrupt-pixel-data", "--image", "{crc.png}", files={"crc.png": corrupt_idat_png()},
            words=("input image {crc.png} is not a readable image", "broken data stream")),
    img2img("image-svg", "--image", "{vector.svg}",
            files={"vector.svg": text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>')},
            words=("{vector.svg}", "not a readable image")),
    img2img("image-pdf", "--image", "{scan.pdf}", files={"scan.pdf": raw(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")},
            words=("input image {scan.pdf} is not a readable image",)),
    img2img("image-dev-zero", "--image", "/dev/zero", words=("input image /dev/zero is not a regular file",)),
    img2img("image-named-pipe", "--image", "{pipe.png}", files={"pipe.png": fifo()},
            words=("input image {pipe.png} is not a regular file",)),
    img2img("mask-named-pipe", "--image", "{in.png}", "--mask", "{pipe.png}",
            files={"in.png": image(64, 64), "pipe.png": fifo()}, words=("mask {pipe.png} is not a regular file",)),
    img2img("image-1x1", "--image", "{dot.png}", files={"dot.png": image(1, 1)},
            words=("width=8", "{dot.png}", "1x1", "-W")),
    img2img("image-zero-height", "--image", "{flat.png}", files={"flat.png": declared_png(64, 0)},
            words=("input image {flat.png} is not a readable image",)),
    img2img("image-decompression-bomb", "--image", "{bomb.png}", "-W", "64", "-H", "64",
            files={"bomb.png": declared_png(30000, 30000)}, words=("{bomb.png}", "too large")),
    img2img("image-decompression-bomb-sets-the-size", "--image", "{bomb.png}",
            files={"bomb.png": declared_png(30000, 30000)}, words=("width=30000", "{bomb.png}", "30000x30000")),
    # 10000x10000 is under sdkit's limit (128 MP) and just under Pillow's error limit, where Pillow only warned
    # and went on: the file is opened, found truncated, and Pillow's warning never shows.
    img2img("image-just-under-pillow-limit", "--image", "{big.png}", "-W", "64", "-H", "64",
            files={"big.png": declared_png(10000, 10000)}, words=("{big.png}", "not a readable image"),
            not_words=("DecompressionBomb", "could be decompression bomb")),
    img2img("image-over-a-configured-pixel-limit", "--image", "{big.png}", files={"big.png": image(64, 64)},
            env={"SDKIT_MAX_IMAGE_PIXELS": "4000"}, words=("{big.png}", "too large", "SDKIT_MAX_IMAGE_PIXELS")),
    img2img("image-pixel-limit-not-a-number", "--image", "{good.png}", files=GOOD,
            env={"SDKIT_MAX_IMAGE_PIXELS": "lots"}, words=("SDKIT_MAX_IMAGE_PIXELS='lots' is not a number of pixels",)),
    img2img("image-pixel-limit-negative", "--image", "{good.png}", files=GOOD,
            env={"SDKIT_MAX_IMAGE_PIXELS": "-1"}, words=("SDKIT_MAX_IMAGE_PIXELS='-1' is not a number of pixels",)),
    img2img("image-largest-declared-size", "--image", "{huge.png}", "-W", "64", "-H", "64",
            files={"huge.png": declared_png(65535, 65535)}, words=("{huge.png}", "too large")),
    img2img("image-strength-zero", "--image", "{good.png}", "--strength", "0", files=GOOD,
            words=("strength=0.0: must be in (0, 1]",)),
    img2img("image-strength-above-one", "--image", "{good.png}", "--strength", "1.5", files=GOOD,
            words=("strength=1.5: must be in (0, 1]",)),
    img2img("image-truncated-jpeg", "--image", "{cut.jpg}", files={"cut.jpg": truncated_jpeg()},
            words=("{cut.jpg}", "not a readable image")),
    case("img2img-strength-leaves-no-step", "generate", *SD1, "--prompt", "a fox", "--image", "{good.png}", *FAST,
         files=GOOD, words=("strength=0.75 with steps=1 leaves no step to run",)),
    # ------------------------------------------------------------------------- odd but readable
    *[img2img(f"odd-image-{name.replace('.', '-')}", "--image", f"{{{name}}}", files={name: build}, code=0,
              words=("everything resolved and valid",), log=()) for name, build in ODD_IMAGES.items()],
    case("odd-image-16-bit-grey-img2img-runs", "generate", *SD1, "--prompt", "a fox", "--image", "{grey16.png}",
         *FAST[:4], "--steps", "2", "--seed", "1", "-o", "{out}", files={"grey16.png": ODD_IMAGES["grey16.png"]},
         code=0, kept=1, words=("made 1 image",), log=()),
    img2img("animated-gif-uses-its-first-frame", "--image", "{anim.gif}", files={"anim.gif": animated_gif()},
            code=0, words=("{anim.gif}", "has 3 frames; only the first is used")),
    # ------------------------------------------------------------------------------------ masks
    img2img("mask-without-image", "--mask", "{mask.png}", files={"mask.png": gradient_mask(alpha=None)},
            words=("image=None", "inpaint needs an input image")),
    img2img("mask-missing", "--image", "{good.png}", "--mask", "{in}/nope.png", files=GOOD,
            words=("mask not found: {in}/nope.png",)),
    img2img("mask-truncated", "--image", "{good.png}", "--mask", "{cut.png}",
            files={**GOOD, "cut.png": truncated_png()}, words=("mask {cut.png} is not a readable image",)),
    img2img("mask-is-a-folder", "--image", "{good.png}", "--mask", "{in}/masks",
            files={**GOOD, "masks": folder()}, words=("mask {in}/masks is a folder, not an image file",)),
    img2img("mask-decompression-bomb", "--image", "{good.png}", "--mask", "{bomb.png}",
            files={**GOOD, "bomb.png": declared_png(30000, 30000)}, words=("{bomb.png}", "too large")),
    # A surprise, not an error: a fully opaque alpha channel would repaint everything, so the brightness counts
    # (said at info level: shown with --verbose, always in the log). The run makes its image.
    case("mask-opaque-rgba-uses-brightness", "--verbose", "generate", *SD1, "--prompt", "a fox",
         "--image", "{good.png}", "--mask", "{mask.png}", "-W", "64", "-H", "64", "--steps", "1", "--seed", "1",
         "-o", "{out}",
         files={**GOOD, "mask.png": gradient_mask(alpha=255)}, code=0, kept=1,
         words=("mask.png: its alpha channel is 255 everywhere", "read from its brightness")),
    case("mask-all-black", "generate", *SD1, "--prompt", "a fox", "--image", "{good.png}", "--mask", "{black.png}",
         *FAST[:4], "--steps", "2", "--seed", "1", "-o", "{out}", files={**GOOD, "black.png": image(mode="L", color=0)},
         words=("the mask {black.png} is all black",)),
    # The other way round: a mask painted on transparency is read from its alpha, with a warning that says so.
    case("mask-read-from-its-alpha-warns", "generate", *SD1, "--prompt", "a fox", "--image", "{good.png}",
         "--mask", "{mask.png}", *FAST[:4], "--steps", "2", "--seed", "1", "-o", "{out}",
         files={**GOOD, "mask.png": painted_on_transparent_mask()}, code=0, kept=1,
         words=("warning", "mask.png: read from its alpha channel"), log=("mask.png: read from its alpha channel",)),
    img2img("mask-blur-huge", "--image", "{good.png}", "--mask", "{mask.png}", "--mask-blur", "1000",
            files={**GOOD, "mask.png": gradient_mask(alpha=None)}, words=("mask_blur=1000",)),
    # ---------------------------------------------------------------------------------- inspect
    inspect("inspect-missing", "{in}/nope.png", words=("{in}/nope.png", "no such file")),
    inspect("inspect-empty-folder", "{in}/empty", files={"empty": folder()}, words=("{in}/empty", "no PNG files")),
    inspect("inspect-jpeg", "{photo.jpg}", files={"photo.jpg": image(fmt="JPEG")}, words=("{photo.jpg}", "not a PNG")),
    inspect("inspect-png-without-parameters", "{bare.png}", files={"bare.png": image()},
            words=("{bare.png}", "no generation parameters")),
    inspect("inspect-text-file-named-png", "{notes.png}", files={"notes.png": text("hello\n")},
            words=("{notes.png}", "not an image file")),
    inspect("inspect-empty-file", "{empty.png}", files={"empty.png": raw(b"")},
            words=("{empty.png}: not an image file",)),
    inspect("inspect-named-pipe", "{pipe.png}", files={"pipe.png": fifo()}, words=("{pipe.png}",)),
    inspect("inspect-ztxt-bomb", "{bomb.png}", files={"bomb.png": text_chunk_bomb("zTXt")},
            words=("{bomb.png}", "too large")),
    inspect("inspect-itxt-bomb", "{bomb.png}", files={"bomb.png": text_chunk_bomb("iTXt")},
            words=("{bomb.png}", "too large")),
    inspect("inspect-bad-text-checksum", "{crc.png}",
            files={"crc.png": declared_png(8, 8, before=BOMB_TEXT[:-4] + bytes(4))}, words=("{crc.png}", "checksum")),
    inspect("inspect-broken-zlib", "{zlib.png}",
            files={"zlib.png": declared_png(8, 8, before=png_chunk(b"zTXt", b"parameters\0\0not zlib"))},
            words=("{zlib.png}", "does not decompress")),
    inspect("inspect-decompression-bomb-is-read", "{bomb.png}", files={"bomb.png": declared_png(30000, 30000,
            before=BOMB_TEXT)}, code=0, words=("a lighthouse at dusk",), log=()),
    inspect("inspect-escape-sequences-are-shown-escaped", "{esc.png}",
            files={"esc.png": image(parameters=infotext("red \x1b[31malert\x1b]0;pwned\x07 \x1b[2J"))}, code=0,
            words=("\\x1b[31malert",), stdout=("\\x1b",), log=()),
    inspect("inspect-rich-markup-is-shown-as-text", "{markup.png}",
            files={"markup.png": image(parameters=infotext("[bold red]FAKE ERROR[/] :skull: [link=http://x]y[/link]"))},
            code=0, words=("[bold red]FAKE ERROR[/]", ":skull:"), stdout=("[link=http://x]",), log=()),
    inspect("inspect-c1-control-is-shown-escaped", "{csi.png}",
            files={"csi.png": image(parameters=infotext("red \x9b31malert"))}, code=0, words=("\\x9b31malert",),
            log=()),
    inspect("inspect-bidi-override-is-shown-escaped", "{rtl.png}",
            files={"rtl.png": image(parameters=infotext("abc \u202egnp.exe"))}, code=0, words=("\\u202e",), log=()),
    inspect("inspect-mixed-good-and-bad", "{good.png}", "{bare.png}",
            files={"good.png": image(parameters=A1111_TEXT), "bare.png": image()},
            words=("{bare.png}", "1 of 2 files"), stdout=("a lighthouse at dusk",), log=("1 of 2 files",)),
    inspect("inspect-negative-steps-shown", "{neg.png}", files={"neg.png": image(parameters=infotext(Steps=-5))},
            code=0, words=("-5",), log=()),
    # ------------------------------------------------------------------------------- --from-image
    case("from-image-missing", "generate", "--from-image", "{in}/nope.png", *DRY,
         words=("{in}/nope.png: no such file",)),
    case("from-image-folder", "generate", "--from-image", "{in}/shots", *DRY, files={"shots": folder()},
         words=("{in}/shots: a folder, not an image file",)),
    case("from-image-named-pipe", "generate", "--from-image", "{pipe.png}", *DRY, files={"pipe.png": fifo()},
         words=("{pipe.png}",)),
    case("from-image-without-parameters", "generate", "--from-image", "{bare.png}", *DRY,
         files={"bare.png": image()}, words=("{bare.png}", "no generation parameters")),
    case("from-image-jpeg", "generate", "--from-image", "{photo.jpg}", *DRY, files={"photo.jpg": image(fmt="JPEG")},
         words=("{photo.jpg}", "not a PNG")),
    case("from-image-garbage-metadata-with-model", "generate", "--from-image", "{junk.png}", *SD1, *DRY,
         files={"junk.png": image(parameters="\x00\x01garbage: : :\n,,,::\nSteps: lots")},
         words=("{junk.png}'s metadata", "U+0000")),
    case("from-image-negative-steps", "generate", "--from-image", "{neg.png}", *SD1, *DRY,
         files={"neg.png": image(parameters=infotext(Steps=-5))}, words=("{neg.png}", "steps=-5")),
    case("from-image-size-unreadable", "generate", "--from-image", "{size.png}", *SD1, *DRY,
         files={"size.png": image(parameters=infotext(Size="wide x tall"))},
         words=("{size.png}: its metadata records an unreadable Size: 'wide x tall'",)),
    case("from-image-unknown-sampler", "generate", "--from-image", "{sampler.png}", *SD1, *DRY,
         files={"sampler.png": image(parameters=infotext(Sampler="Heun Turbo 9000"))},
         words=("unknown sampler 'Heun Turbo 9000'", "recorded in {sampler.png}'s metadata")),
    case("from-image-model-not-here", "generate", "--from-image", "{a1111.png}", *DRY,
         files={"a1111.png": image(parameters=infotext(Model="dreamshaper_8", Model_hash="879db523c3"))},
         words=("{a1111.png} was made with model 'dreamshaper_8' [879db523c3], which is not in the models folder",)),
    case("from-image-explicit-model-wins", "generate", "--from-image", "{a1111.png}", *SD1, *DRY, code=0,
         files={"a1111.png": image(parameters=infotext(Model="dreamshaper_8", Model_hash="879db523c3"))},
         words=("tiny-sd1",), not_words=("not in the models folder",), log=()),
    case("from-image-img2img-needs-its-image", "generate", "--from-image", "{i2i.png}", *SD1, *DRY,
         files={"i2i.png": image(parameters=infotext(Denoising_strength=0.5))},
         words=("{i2i.png} was made by img2img", "pass the image again")),
    case("from-image-inpaint-needs-image-and-mask", "generate", "--from-image", "{inpaint.png}", *SD1, *DRY,
         files={"inpaint.png": image(parameters=infotext(Denoising_strength=0.75, Mask_blur=4))},
         words=("{inpaint.png}", "--image", "--mask")),
    # An A1111 hires-fix PNG runs both passes: cases_hires.py.
    case("from-image-escape-in-prompt", "generate", "--from-image", "{esc.png}", *SD1, *DRY,
         files={"esc.png": image(parameters=infotext("red \x1b[31malert"))}, words=("prompt=",)),
]
