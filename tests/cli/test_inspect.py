"""`sdkit inspect`: the parameters of sdkit and A1111 PNGs, and clear messages for other files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_sdkit

from sdkit.outputs.infotext import format_infotext, write_png_with_parameters


def flat(text: str) -> str:
    """Console text with rich's line wrapping undone."""
    return " ".join(text.split())

A1111_TEXT = (
    "a lighthouse at dusk, oil painting\n"
    "Negative prompt: lowres, watermark\n"
    "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 42, Size: 768x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1"
)


@pytest.fixture
def pngs(tmp_path):
    from PIL import Image

    image = Image.new("RGB", (16, 16), (200, 100, 50))
    a1111 = write_png_with_parameters(image, tmp_path / "a1111.png", A1111_TEXT)
    sdkit_text = format_infotext("狐, a fox: running", "", {
        "Steps": 4, "Sampler": "Euler a", "Schedule type": "Uniform", "CFG scale": 7.0, "Seed": 7,
        "Size": "64x64", "Model": "tiny, sd1", "RNG": "CPU", "Version": "sdkit 0.1.0"})
    ours = write_png_with_parameters(image, tmp_path / "sdkit.png", sdkit_text)
    bare = tmp_path / "bare.png"
    image.save(bare)
    jpeg = tmp_path / "photo.jpg"
    image.save(jpeg)
    return {"a1111": a1111, "sdkit": ours, "bare": bare, "jpeg": jpeg}


def test_json_for_a1111_and_sdkit_files(capsys, pngs):
    result = run_sdkit(capsys, "inspect", pngs["a1111"], pngs["sdkit"], "--json")
    assert result.exit_code == 0, result.output
    first, second = json.loads(result.stdout)
    assert first["prompt"] == "a lighthouse at dusk, oil painting"
    assert first["negative_prompt"] == "lowres, watermark"
    assert first["parameters"]["Sampler"] == "DPM++ 2M" and first["parameters"]["Schedule type"] == "Karras"
    assert (first["width"], first["height"]) == (768, 512)
    assert second["prompt"] == "狐, a fox: running" and second["negative_prompt"] == ""
    assert second["parameters"]["Model"] == "tiny, sd1"  # quoted in the file, plain here


def test_table_shows_prompt_and_fields(capsys, pngs):
    result = run_sdkit(capsys, "inspect", pngs["a1111"])
    assert result.exit_code == 0, result.output
    for text in ("a lighthouse at dusk", "lowres, watermark", "Sampler", "DPM++ 2M", "Seed", "42", "768x512"):
        assert text in result.stdout


def test_raw_prints_the_stored_text(capsys, pngs):
    result = run_sdkit(capsys, "inspect", pngs["a1111"], "--json", "--raw")
    assert json.loads(result.stdout)[0]["infotext"] == A1111_TEXT


@pytest.mark.parametrize(("which", "message"), [("bare", "carries no generation parameters"),
                                                ("jpeg", "not a PNG")])
def test_files_without_parameters_exit_2_with_a_message(capsys, pngs, which, message):
    result = run_sdkit(capsys, "inspect", pngs[which])
    assert result.exit_code == 2
    assert message in flat(result.stderr) and "hint:" in flat(result.stderr)
    assert "Traceback" not in result.output


def test_missing_file_exits_2(capsys, tmp_path):
    result = run_sdkit(capsys, "inspect", tmp_path / "nope.png")
    assert result.exit_code == 2 and "no such file" in flat(result.stderr)


def test_mixed_files_print_the_good_ones_and_exit_2(capsys, pngs):
    result = run_sdkit(capsys, "inspect", pngs["sdkit"], pngs["bare"], "--json")
    assert result.exit_code == 2
    good, bad = json.loads(result.stdout)
    assert good["parameters"]["Seed"] == "7"
    assert "carries no generation parameters" in bad["error"]
    assert "1 of 2 files" in flat(result.stderr)


def test_a_folder_stands_for_its_pngs(capsys, pngs, tmp_path):
    result = run_sdkit(capsys, "inspect", pngs["a1111"].parent, "--json")
    assert result.exit_code == 2  # bare.png in the folder has no parameters; the others are printed
    files = [record["file"] for record in json.loads(result.stdout)]
    assert [Path(name).name for name in files] == ["a1111.png", "bare.png", "sdkit.png"]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_sdkit(capsys, "inspect", empty)
    assert result.exit_code == 2 and "no PNG files" in flat(result.stderr)


def _chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _declared_png(path: Path, width: int, height: int, before: bytes = b"", after: bytes = b"") -> Path:
    """A PNG whose header declares `width` x `height`: only a token of image data, never decoded here."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + before
                     + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + after + _chunk(b"IEND", b""))
    return path


def test_a_huge_image_is_inspected_without_decoding_it(capsys, tmp_path):
    # 30000 x 30000 is a decompression bomb to Pillow (it refused to open it: exit 1); the text chunks
    # are read without the pixels, before or after the image data.
    text = _chunk(b"tEXt", b"parameters\0" + A1111_TEXT.encode("latin-1"))
    before = _declared_png(tmp_path / "before.png", 30000, 30000, before=text)
    after = _declared_png(tmp_path / "after.png", 30000, 30000, after=text)
    result = run_sdkit(capsys, "inspect", before, after, "--json")
    assert result.exit_code == 0, result.output
    for record in json.loads(result.stdout):
        assert record["prompt"] == "a lighthouse at dusk, oil painting"
        assert record["parameters"]["Seed"] == "42"
    assert "Decompression" not in result.output and "warning" not in result.stderr.lower()


@pytest.mark.parametrize("chunk", ["zTXt", "iTXt"])
def test_a_compressed_text_bomb_exits_2_naming_the_file(capsys, tmp_path, chunk):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    bomb = A1111_TEXT + "x" * 20_000_000  # 20 MB of text in about 20 KB of file
    if chunk == "zTXt":
        info.add_text("parameters", bomb, zip=True)
    else:
        info.add_itxt("parameters", bomb, zip=True)
    path = tmp_path / "bomb.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    assert path.stat().st_size < 100_000 and chunk.encode() in path.read_bytes()
    result = run_sdkit(capsys, "inspect", path)
    assert result.exit_code == 2, result.output
    assert f"{path}: its parameters text is too large" in flat(result.stderr) and "hint:" in result.stderr
    assert "Traceback" not in result.output


def test_damaged_text_chunks_exit_2(capsys, tmp_path):
    good = _chunk(b"tEXt", b"parameters\0" + A1111_TEXT.encode("latin-1"))
    broken_crc = good[:-4] + bytes(4)
    path = _declared_png(tmp_path / "crc.png", 8, 8, before=broken_crc)
    result = run_sdkit(capsys, "inspect", path)
    assert result.exit_code == 2 and "a damaged PNG" in flat(result.stderr) and "checksum" in result.stderr
    not_zlib = _chunk(b"zTXt", b"parameters\0\0" + b"not zlib data")
    path = _declared_png(tmp_path / "zlib.png", 8, 8, before=not_zlib)
    result = run_sdkit(capsys, "inspect", path)
    assert result.exit_code == 2 and "does not decompress" in flat(result.stderr)


def test_a_very_long_prompt_is_read_in_linear_time(capsys, tmp_path):
    import time

    from PIL import Image

    # A prompt of one 300,000-character line and no parameters line: the last line is searched for
    # `Key: value` pairs, and A1111's own pattern would take many minutes over it.
    prompt = "a" * 300_000
    path = write_png_with_parameters(Image.new("RGB", (8, 8)), tmp_path / "long.png", prompt)
    started = time.process_time()
    result = run_sdkit(capsys, "inspect", path, "--json")
    assert time.process_time() - started < 3.0
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["prompt"] == prompt


HOSTILE_TEXT = (
    "evil \x1b[31mRED\x1b[0m [bold red]markup[/] :smile: \x9b2J \u202eright-to-left \x07bell\n"
    "Negative prompt: [link=https://example.com]click[/link]\n"
    "Steps: 4, Sampler: Euler\x1b]0;new title\x07, Seed: 1, Size: 8x8, \x1b[2JKey: v"
)
# What must never reach a terminal raw: ESC, the one-character CSI, a bidi override, BEL.
RAW_CONTROLS = ("\x1b", "\x9b", "\u202e", "\x07")


def test_hostile_metadata_is_printed_as_text(capsys, tmp_path):
    from PIL import Image

    path = write_png_with_parameters(Image.new("RGB", (8, 8)), tmp_path / "hostile.png", HOSTILE_TEXT)
    result = run_sdkit(capsys, "inspect", path, "--raw")
    assert result.exit_code == 0, result.output
    assert not any(control in result.output for control in RAW_CONTROLS)
    for shown in ("\\x1b[31mRED\\x1b[0m", "[bold red]markup[/]", ":smile:", "\\x9b2J", "\\u202eright-to-left",
                  "\\x07bell", "[link=https://example.com]click[/link]", "Euler\\x1b]0;new title\\x07"):
        assert shown in result.stdout, shown


def test_hostile_metadata_stays_exact_in_json(capsys, tmp_path):
    from PIL import Image

    path = write_png_with_parameters(Image.new("RGB", (8, 8)), tmp_path / "hostile.png", HOSTILE_TEXT)
    result = run_sdkit(capsys, "inspect", path, "--json", "--raw")
    assert result.exit_code == 0, result.output
    assert not any(control in result.stdout for control in RAW_CONTROLS)  # escaped as \u001b, \u009b, ...
    [record] = json.loads(result.stdout)
    assert record["infotext"] == HOSTILE_TEXT
    assert record["prompt"] == HOSTILE_TEXT.split("\n")[0]
    assert record["parameters"]["Sampler"] == "Euler\x1b]0;new title\x07"


def test_a_hostile_file_name_in_an_error_is_printed_as_text(capsys, pngs, tmp_path):
    hostile = tmp_path / "x\x1b]0;title\x07[bold]y.png"
    hostile.write_bytes(pngs["bare"].read_bytes())
    result = run_sdkit(capsys, "inspect", pngs["sdkit"], hostile)
    assert result.exit_code == 2
    assert not any(control in result.output for control in RAW_CONTROLS)
    assert "x\\x1b]0;title\\x07[bold]y.png: this PNG carries no generation parameters" in flat(result.stderr)
