"""A1111 infotext: written, parsed, and stored in PNG files exactly as A1111 and its readers expect."""

from __future__ import annotations

import json

import pytest

from sdkit.core.errors import UserInputError
from sdkit.outputs.infotext import (
    format_infotext,
    parse_infotext,
    png_info,
    read_infotext,
    read_png_parameters,
    write_png_with_parameters,
)

FIELDS = {
    "Steps": 20, "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": 7.0, "Seed": 1234567890,
    "Size": "512x768", "Model hash": "6ce0161689", "Model": "v1-5-pruned-emaonly", "Denoising strength": 0.75,
    "Clip skip": None, "RNG": "CPU", "Version": "sdkit 0.1.0",
}

AWKWARD_PROMPTS = [
    ("a cat, sitting: on a mat", "blurry, low quality"),
    ('he said "hello", then left', 'no "quotes"'),
    ("line one\nline two, with comma\n  indented: colon", "neg line one\nneg: line two"),
    ("日本語のプロンプト, ünïcödé ✨ emoji 🦊", "ネガティブ"),
    ("(masterpiece:1.2), [blue|red] hair, <lora:thing:0.8>", ""),
    ("Steps: 5, Sampler: Euler, Seed: 3", "looks like parameters: a, b: c, d: e"),
    ("", "only a negative prompt"),
    ("back\\slash and tab\there", "trailing comma,"),
]


def test_layout_matches_a1111():
    text = format_infotext("a cat", "blurry", FIELDS)
    assert text == (
        "a cat\n"
        "Negative prompt: blurry\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, "
        "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.75, RNG: CPU, "
        "Version: sdkit 0.1.0"
    )
    # No negative prompt: the line is left out entirely.
    text = format_infotext("a cat", "", {"Steps": 20, "Seed": 1, "Size": "8x8"})
    assert text == "a cat\nSteps: 20, Seed: 1, Size: 8x8"


def test_quoting_follows_a1111():
    text = format_infotext("p", "", {"Steps": 1, "Lora hashes": "a: 1, b: 2", "Note": "x\ny", "Plain": 'say "hi"',
                                     "Quoted": '"starts with a quote"', "Seed": 5})
    last = text.splitlines()[-1]
    assert 'Lora hashes: "a: 1, b: 2"' in last
    assert 'Note: "x\\ny"' in last
    assert 'Plain: say "hi"' in last  # no comma, colon or newline: written as is, as A1111 does
    assert json.dumps('"starts with a quote"') in last
    parsed = parse_infotext(text)
    assert parsed.fields["Lora hashes"] == "a: 1, b: 2"
    assert parsed.fields["Note"] == "x\ny"
    assert parsed.fields["Plain"] == 'say "hi"'
    assert parsed.fields["Quoted"] == '"starts with a quote"'


@pytest.mark.parametrize(("prompt", "negative"), AWKWARD_PROMPTS)
def test_written_then_parsed_is_equal(prompt, negative):
    fields = {**FIELDS, "Model": "my, model: v2", "Hires prompt": prompt or "x"}
    parsed = parse_infotext(format_infotext(prompt, negative, fields))
    assert parsed.prompt == prompt
    assert parsed.negative_prompt == negative
    expected = {key: ("7" if key == "CFG scale" else str(value)) for key, value in fields.items() if value is not None}
    assert parsed.fields == expected
    assert (parsed.width, parsed.height) == (512, 768)
    assert parsed.get_int("Seed") == 1234567890 and parsed.get_float("Denoising strength") == 0.75


def test_parses_a_real_a1111_infotext():
    text = (
        "masterpiece, best quality, 1girl, (smile:1.1)\n"
        "Negative prompt: (worst quality:1.4), lowres\n"
        'Steps: 25, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 3821955412, Size: 512x768, '
        'Model hash: 7f96a1a9ca, Model: anything-v5, Denoising strength: 0.5, Clip skip: 2, '
        'Hires upscale: 2, Hires upscaler: Latent, Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.6.0'
    )
    parsed = parse_infotext(text)
    assert parsed.prompt == "masterpiece, best quality, 1girl, (smile:1.1)"
    assert parsed.negative_prompt == "(worst quality:1.4), lowres"
    assert parsed.fields["Sampler"] == "DPM++ 2M Karras"
    assert parsed.fields["Lora hashes"] == "add_detail: 7c6bad76eb54"
    assert parsed.get_int("Clip skip") == 2 and parsed.get_float("CFG scale") == 7.5
    a1111 = parsed.a1111_dict()
    assert (a1111["Size-1"], a1111["Size-2"]) == ("512", "768") and "Size" not in a1111


def test_text_without_parameters_is_all_prompt():
    parsed = parse_infotext("just a prompt, with: two fields\nand a second line")
    assert parsed.prompt == "just a prompt, with: two fields\nand a second line"
    assert parsed.fields == {} and parsed.size is None


def test_png_round_trip_latin1_and_unicode(tmp_path):
    from PIL import Image

    image = Image.new("RGB", (8, 8), (10, 20, 30))
    for name, prompt in (("plain.png", "a cat, sitting"), ("unicode.png", "狐, 🦊 fox")):
        text = format_infotext(prompt, "blurry", FIELDS)
        path = write_png_with_parameters(image, tmp_path / name, text)
        assert read_png_parameters(path) == text
        assert read_infotext(path).prompt == prompt
    # A1111 stores Latin-1 text as tEXt and anything else as iTXt; readers look for either.
    assert b"tEXtparameters" in (tmp_path / "plain.png").read_bytes()
    assert b"iTXtparameters" in (tmp_path / "unicode.png").read_bytes()
    assert png_info("x").chunks  # the writer uses this PngInfo for its atomic save


def test_unreadable_files_give_clear_errors(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "bare.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    cases = {"bare.png": "carries no generation parameters", "photo.jpg": "a JPEG image, not a PNG",
             "notes.txt": "not an image file", "missing.png": "no such file", ".": "a folder"}
    for name, message in cases.items():
        with pytest.raises(UserInputError) as caught:
            read_png_parameters(tmp_path / name)
        assert message in caught.value.message and caught.value.hint


def test_pairs_are_found_as_a1111s_own_pattern_finds_them():
    import random
    import re

    from sdkit.outputs import infotext

    # A1111's pattern, quadratic on long runs; sdkit's must find exactly the same pairs.
    a1111 = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
    pieces = ["a", "B", "_", "1", " ", "-", "/", ":", ",", '"', "\\", "\t", "é", "Steps", ": ", ", ", '"a, b"', "\r"]
    rng = random.Random(14)
    for _ in range(5000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert infotext._PARAM.findall(line) == a1111.findall(line), line


def test_the_last_parameters_chunk_counts_and_a_truncated_file_keeps_what_came_before(tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "first")
    info.add_text("parameters", "second, as Pillow and A1111 read it")
    path = tmp_path / "two.png"
    Image.effect_noise((64, 64), 50).save(path, pnginfo=info)
    assert read_png_parameters(path) == "second, as Pillow and A1111 read it"
    data = path.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: data.index(b"IDAT") + 100])  # ends inside the image data
    assert read_png_parameters(cut) == "second, as Pillow and A1111 read it"


def _stored_parameters(path) -> bytes:
    """The bytes of the text in a PNG's `parameters` chunk (tEXt or uncompressed iTXt), as stored."""
    import struct

    data = path.read_bytes()[8:]
    while data:
        length, kind = struct.unpack(">I4s", data[:8])
        body, data = data[8:8 + length], data[12 + length:]
        keyword, _, rest = body.partition(b"\0")
        if keyword == b"parameters" and kind == b"tEXt":
            return rest
        if keyword == b"parameters" and kind == b"iTXt":
            return rest[2:].split(b"\0", 2)[2]  # after the flags, the language tag, the translated keyword
    raise AssertionError("no parameters chunk")


def test_the_writer_never_puts_a_nul_or_a_lone_surrogate_in_a_png(tmp_path):
    from PIL import Image

    # Validation refuses these in prompts; an engine's or plugin's field, or a library caller, can still
    # hand them to the writer.
    text = format_infotext("a\0cat", "neg\0", {"Steps": 4, "Note": "x\0y", "Quoted": "a, \0b", "Odd": "\udc80",
                                               "Seed": 1})
    assert "\0" not in text and "\udc80" not in text
    path = write_png_with_parameters(Image.new("RGB", (8, 8)), tmp_path / "nul.png", text)
    assert b"\0" not in _stored_parameters(path)
    parsed = read_infotext(path)
    assert parsed.prompt == "a\u2400cat" and parsed.negative_prompt == "neg\u2400"
    assert parsed.fields["Note"] == "x\u2400y" and parsed.fields["Odd"] == "\ufffd"
    assert parsed.fields["Quoted"] == "a, \0b"  # JSON-quoted as \u0000: exact, and no NUL in the file
    # png_info guards text that did not come from format_infotext too.
    direct = tmp_path / "direct.png"
    Image.new("RGB", (8, 8)).save(direct, pnginfo=png_info("raw\0text"))
    assert read_png_parameters(direct) == "raw\u2400text"
