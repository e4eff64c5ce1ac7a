"""The other commands: `samplers show`, `plugins list`, `export-debug`, `benchmark`, and sdkit's own setup
(its config, state and log files, the root command).

`benchmark` cases are option errors only: each must be refused before anything is timed.
"""

from __future__ import annotations

import uuid

from bad_inputs.builders import raw, text
from bad_inputs.corpus import Ctx, case
from bad_inputs.places import full_disk, read_only_folder

LONG_NAME = "token_" * 4_000  # 24,000 characters, as in the 25,000-character sampler name


def _plugin(body: str, group: str = "sdkit.samplers", key: str = "hostile", target: str | None = None):
    """Setup: install a throwaway distribution (a real dist-info on sys.path) with one entry point."""
    def setup(ctx: Ctx) -> None:
        from sdkit.registry import reset_registries

        root = ctx.tmp / "site"
        module = f"bad_inputs_plugin_{uuid.uuid4().hex[:8]}"
        root.mkdir()
        (root / f"{module}.py").write_text(body, encoding="utf-8")
        info = root / "hostile_plugin-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hostile-plugin\nVersion: 1.0\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(f"[{group}]\n{key} = {target or module + ':ENTRY'}\n",
                                               encoding="utf-8")
        ctx.monkeypatch.syspath_prepend(str(root))
        reset_registries()
    return setup


def _logged_long_value(ctx: Ctx) -> None:
    """The log after a failed `samplers show` of a 24,000-character name, as a real run leaves it."""
    log_dir = ctx.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "sdkit.log").write_text(
        f"2026-11-28 10:00:00,000 1 DEBUG sdkit: failure: unknown sampler {LONG_NAME!r}\n"
        f"2026-11-28 10:00:00,001 1 DEBUG sdkit: {'x' * 200_000}\n", encoding="utf-8")
    ctx.out.mkdir()


def _binary_log(ctx: Ctx) -> None:
    log_dir = ctx.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    ctx.out.mkdir()
    (log_dir / "sdkit.log").write_bytes(b"2026-11-28 DEBUG sdkit: \xff\xfe\x00\x1b[31m not text \x80\n" * 100)


def _config(body: str):
    def setup(ctx: Ctx) -> None:
        config = ctx.home / "config" / "config.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(ctx.expand(body), encoding="utf-8")
    return setup


def _state(content: bytes):
    def setup(ctx: Ctx) -> None:
        state = ctx.home / "state" / "state.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_bytes(content)
    return setup


def _state_folder(ctx: Ctx) -> None:
    (ctx.home / "state" / "state.json").mkdir(parents=True)


def _out_read_only(ctx: Ctx) -> None:
    read_only_folder(ctx, ctx.out)


def _out_full(ctx: Ctx) -> None:
    full_disk(ctx, ctx.out, "4k")


def bench(id: str, *args: str, words, **options):
    """A benchmark option error, run as a real process: it must be refused before torch is even imported
    (a second or two at most), not after the seconds a benchmark spends importing and loading."""
    return case(id, "benchmark", *args, words=words, process=True, time_limit=3.0, **options)


CASES = [
    # --------------------------------------------------------------------------------- samplers
    case("samplers-show-unknown", "samplers", "show", "DPM++ 9M", words=("DPM++ 9M", "did you mean")),
    case("samplers-show-long-name", "samplers", "show", LONG_NAME, words=("unknown sampler", "…"), time_limit=2.0),
    case("samplers-show-escape-sequence", "samplers", "show", "euler\x1b[2J\x1b]0;pwned\x07",
         words=("unknown sampler", "euler")),
    case("samplers-show-markup", "samplers", "show", "[bold red]euler[/]", words=("[bold red]euler[/]",)),
    case("samplers-show-unknown-schedule", "samplers", "show", "euler", "--schedule", "zigzag", words=("zigzag",)),
    case("samplers-show-schedule-as-sampler", "samplers", "show", "karras", words=("unknown sampler 'karras'",)),
    # ---------------------------------------------------------------------------------- plugins
    case("plugins-list-broken-plugin-is-listed", "plugins", "list", code=0,
         setup=_plugin("raise RuntimeError('this plugin is broken on purpose')\n"),
         words=("hostile-plugin", "broken", "this plugin is broken on purpose"), log=()),
    case("plugins-list-plugin-that-exits", "plugins", "list", code=0, setup=_plugin("import sys\nsys.exit(3)\n"),
         words=("hostile-plugin", "broken"), log=()),
    case("plugins-list-entry-point-to-a-missing-module", "plugins", "list", code=0,
         setup=_plugin("", target="no_such_module_anywhere:ENTRY"), words=("hostile-plugin", "no_such_module_anywhere"),
         log=()),
    case("plugins-list-plugin-prints-escapes", "plugins", "list", "--json", code=0,
         setup=_plugin("raise RuntimeError('\\x1b[2J\\x1b]0;pwned\\x07 cleared your screen')\n"),
         words=("hostile-plugin", "cleared your screen"), log=()),
    case("plugins-load-list-typo", "plugins", "list", code=0, env={"SDKIT_LOAD_PLUGINS": "hostlie-plugin"},
         setup=_plugin("ENTRY = None\n"), words=("SDKIT_LOAD_PLUGINS", "hostlie-plugin", "hostile-plugin")),
    case("generate-with-a-broken-plugin-installed", "generate", "--model", "{sd1}", "--prompt", "a fox", "--dry-run",
         "-o", "{out}", code=0, setup=_plugin("raise RuntimeError('broken on purpose')\n"),
         words=("everything resolved and valid",), log=()),
    case("generate-sampler-of-a-broken-plugin", "generate", "--model", "{sd1}", "--prompt", "a fox", "--sampler",
         "hostile", "--dry-run", "-o", "{out}", setup=_plugin("raise RuntimeError('broken on purpose')\n"),
         words=("hostile", "broken on purpose")),
    # ------------------------------------------------------------------------------ export-debug
    case("export-debug-read-only-folder", "export-debug", "-o", "{out}", setup=_out_read_only,
         words=("{out}", "not writable")),
    case("export-debug-read-only-file-name", "export-debug", "-o", "{out}/bundle.zip", setup=_out_read_only,
         words=("{out}", "not writable")),
    case("export-debug-existing-file", "export-debug", "-o", "{bundle.zip}", files={"bundle.zip": raw(b"PK")},
         words=("{bundle.zip}", "exists")),
    case("export-debug-folder-missing", "export-debug", "-o", "{in}/no/such/folder/bundle.zip",
         words=("{in}/no/such/folder",)),
    case("export-debug-under-a-file", "export-debug", "-o", "{notes.txt}/bundle.zip", files={"notes.txt": text("x")},
         words=("{notes.txt}",)),
    case("export-debug-full-disk", "export-debug", "-o", "{out}", setup=_out_full, code=1,
         words=("cannot write the bundle in {out}", "No space left on device")),
    case("export-debug-after-a-long-logged-value", "export-debug", "-o", "{out}", code=0, kept=1,
         setup=_logged_long_value, words=("{out}/sdkit-debug-", "redaction"), log=(), time_limit=5.0),
    case("export-debug-binary-log", "export-debug", "-o", "{out}", code=0, kept=1, setup=_binary_log,
         words=("{out}/sdkit-debug-",), log=()),
    # --------------------------------------------------------------------------------- benchmark
    bench("bench-steps-not-a-number", "--steps", "abc", words=("--steps", "abc")),
    bench("bench-steps-empty", "--steps", "", words=("--steps", "empty")),
    bench("bench-steps-zero", "--steps", "0", words=("--steps", "0")),
    bench("bench-sizes-garbage", "--sizes", "12x", words=("--sizes", "12x")),
    bench("bench-batch-sizes-zero", "--batch-sizes", "0", words=("--batch-sizes",)),
    bench("bench-repeats-zero", "--repeats", "0", words=("--repeats", "0")),
    bench("bench-warmup-negative", "--warmup", "-1", words=("--warmup", "-1")),
    bench("bench-threads-zero", "--threads", "0", words=("--threads", "0")),
    bench("bench-nothing-to-do", "--no-matrix", words=("--no-matrix", "--startup")),
    bench("bench-json-folder-missing", "--json", "{in}/no/such/report.json", words=("{in}/no/such",)),
    bench("bench-csv-folder-missing", "--csv", "{in}/no/such/report.csv", words=("{in}/no/such",)),
    bench("bench-unet-threads-garbage", "unet", "--threads", "two", words=("--threads", "two")),
    bench("bench-upscale-size-tiny", "upscale", "--size", "4", words=("--size",)),
    bench("bench-upscale-dtype-unknown", "upscale", "--dtypes", "fp8", words=("fp8",)),
    bench("bench-upscale-blocks-zero", "upscale", "--blocks", "0", words=("--blocks",)),
    bench("bench-upscale-tiles-empty", "upscale", "--tiles", "", words=("--tiles",)),
    # ------------------------------------------------------------- sdkit's own files and flags
    # sdkit's own state (the last preset used) is a cache: a damaged one is replaced, the run goes on.
    case("state-file-garbage", "generate", "--preset", "txt2img/basic", "--model", "{sd1}", "--dry-run", "-o", "{out}",
         code=0, setup=_state(b"\x00\xffnot json{{{"), words=("everything resolved and valid",), log=()),
    case("state-file-a-folder", "generate", "--preset", "txt2img/basic", "--model", "{sd1}", "--dry-run", "-o", "{out}",
         code=0, setup=_state_folder, words=("everything resolved and valid",), log=()),
]
