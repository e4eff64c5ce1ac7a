"""Hostile presets: alias bombs, deep nesting, huge files, unsafe tags, broken YAML and wrong values.

Presets come from other people (plugins, shared files), so each is tried with `presets validate`, `show`,
`diff` and `generate --preset ... --dry-run`; every answer is fast, names the file and quotes little.
"""

from __future__ import annotations

from yaml_bombs import list_bomb_as_prompt, mapping_bomb, merge_key_bomb

from bad_inputs.builders import (
    PRESET_HEADER,
    fifo,
    folder,
    preset,
    raw,
    text,
)
from bad_inputs.corpus import Ctx, case

DRY = ("--dry-run", "-o", "{out}")
MARKER = "{tmp}/payload-ran"
# What `presets validate` logs: the verdict, not the file (reported: it should name the file and the problems).
VERDICT = ("preset is invalid",)
HUGE_PROMPT = 'params:\n  prompt: "' + "a " * (128 * 1024) + '"\n'

# name -> (preset text or builder, words that say what is wrong with it)
HOSTILE = {
    "mapping-bomb": (text(mapping_bomb()), "values, counting each alias"),
    "list-bomb-prompt": (text(list_bomb_as_prompt()), "values, counting each alias"),
    "merge-key-bomb": (text(merge_key_bomb()), "values, counting each alias"),
    "self-alias": (preset("params:\n  prompt: &a [*a]\n"), "used inside its own value"),
    "deep-lists": (preset("params:\n  prompt: " + "[" * 20_000 + "\n"), "levels deep"),
    "deep-mappings": (preset("params:\n  prompt: " + "{a: " * 20_000 + "\n"), "levels deep"),
    "huge-file": (preset(HUGE_PROMPT), "larger than"),
    "huge-integer": (preset("params:\n  steps: " + "1" * 5000 + "\n"), "larger than any preset value can be"),
    "bad-timestamp": (preset("params:\n  steps: 2024-13-45\n"), "cannot be read as a timestamp"),
    "python-tag": (preset(f"params:\n  prompt: !!python/object/apply:os.system ['touch {MARKER}']\n"),
                   "could not determine a constructor for the tag"),
    "syntax-error": (preset("params:\n  prompt: [unclosed\n  steps: 3\n"), "not valid YAML"),
    "tab-indent": (preset("params:\n\tprompt: a fox\n"), "not valid YAML: found character '\\t'"),
    "not-utf8": (raw(PRESET_HEADER.encode() + b"params:\n  prompt: caf\xe9\n"), "is not UTF-8 text"),
    "binary-garbage": (raw(bytes(range(256)) * 4), "is not UTF-8 text"),
    "empty-file": (raw(b""), "is empty"),
    "top-level-list": (text("- schema_version: 1\n- task: txt2img\n"), "must be a mapping of keys, not a list"),
    "top-level-string": (text("just some words\n"), "must be a mapping of keys"),
    "schema-version-99": (preset("", header="schema_version: 99\ntask: txt2img\n"), "99 is newer than this sdkit"),
    "schema-version-text": (preset("", header="schema_version: one\ntask: txt2img\n"),
                            "'one' is not a schema version"),
    "unknown-task": (preset("", header="schema_version: 1\ntask: paint\n"), "'paint' is not a task"),
    "unknown-key": (preset("promt: a fox\n"), "promt: unknown key"),
    "unknown-param": (preset("params:\n  stepz: 3\n"), "params.stepz: unknown parameter; did you mean 'steps'"),
    "steps-text": (preset("params:\n  steps: lots\n"), "params.steps: 'lots'"),
    "steps-negative": (preset("params:\n  steps: -5\n"), "params.steps: -5 must be at least 1"),
    "cfg-nan": (preset("params:\n  cfg_scale: .nan\n"), "params.cfg_scale: nan must be between 0 and 50"),
    "prompt-a-list": (preset("params:\n  prompt: [a, fox]\n"), "params.prompt: ['a', 'fox']"),
    "params-a-list": (preset("params: [1, 2]\n"), "params: must be a mapping of parameter names"),
    "duplicate-key": (preset("params:\n  steps: 3\n  steps: 4\n"), "params.steps: given twice"),
    "long-mode": (preset("mode: " + "m" * 50_000 + "\n"), "…"),
    "many-unknown-keys": (preset("".join(f"key{number}: 1\n" for number in range(60))), "key59"),
}


def _name(key: str) -> str:
    return f"{key}.yaml"


def _validate(key: str) -> object:
    build, words = HOSTILE[key]
    name = _name(key)
    return case(f"presets-validate-{key}", "presets", "validate", f"{{{name}}}", files={name: build},
                words=(f"{{{name}}}", words), absent=(MARKER,), time_limit=2.0,
                log=VERDICT)


def _generate(key: str) -> object:
    build, words = HOSTILE[key]
    name = _name(key)
    return case(f"generate-preset-{key}", "generate", "--preset", f"{{{name}}}", "--model", "{sd1}", *DRY,
                files={name: build}, words=(f"{{{name}}}", words), absent=(MARKER,), time_limit=2.0)


def _user_preset(body: str):
    def setup(ctx: Ctx) -> None:
        folder = ctx.home / "config" / "presets" / "txt2img"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "broken.yaml").write_text(body, encoding="utf-8")
    return setup


CASES = [
    *[_validate(key) for key in HOSTILE],
    *[_generate(key) for key in ("mapping-bomb", "list-bomb-prompt", "deep-lists", "huge-file", "python-tag",
                                 "syntax-error", "not-utf8", "empty-file", "schema-version-99", "unknown-param",
                                 "steps-text", "cfg-nan", "prompt-a-list", "long-mode")],
    case("presets-show-list-bomb", "presets", "show", "{bomb.yaml}", files={"bomb.yaml": text(list_bomb_as_prompt())},
         words=("{bomb.yaml}", "values, counting each alias"), time_limit=2.0),
    case("presets-show-missing-name", "presets", "show", "txt2img/nope", words=("txt2img/nope",)),
    case("presets-show-missing-file", "presets", "show", "{in}/nope.yaml", words=("nope.yaml",)),
    case("presets-show-empty-name", "presets", "show", "", words=("preset",)),
    case("presets-show-name-too-long", "presets", "show", "a" * 300, words=("aaaa",)),
    case("presets-show-path-too-long", "presets", "show", "/tmp/" + "a" * 300 + ".yaml", words=("aaaa",)),
    case("presets-show-folder", "presets", "show", "{in}/presets", files={"presets": folder()},
         words=("{in}/presets",)),
    case("presets-show-named-pipe", "presets", "show", "{pipe.yaml}", files={"pipe.yaml": fifo()},
         words=("{pipe.yaml}", "not a regular file")),
    case("presets-validate-missing-file", "presets", "validate", "{in}/nope.yaml", words=("nope.yaml", "no such file"),
         log=VERDICT),
    case("presets-validate-folder", "presets", "validate", "{in}/presets", files={"presets": folder()},
         words=("{in}/presets", "not a valid preset name"), log=VERDICT),
    case("presets-validate-named-pipe", "presets", "validate", "{pipe.yaml}", files={"pipe.yaml": fifo()},
         words=("{pipe.yaml}", "not a regular file"), log=VERDICT),
    case("presets-validate-good-and-bad", "presets", "validate", "{good.yaml}", "{bad.yaml}",
         files={"good.yaml": preset("params:\n  steps: 3\n"), "bad.yaml": preset("params:\n  steps: lots\n")},
         words=("ok {good.yaml}", "{bad.yaml}:4: params.steps", "1 of 2"), log=("1 of 2 presets is invalid",)),
    case("presets-validate-model-not-here-warns", "presets", "validate", "{model.yaml}", code=0,
         files={"model.yaml": preset("model: dreamshaper_8\n")}, words=("warning", "dreamshaper_8", "not usable here"),
         log=("dreamshaper_8",)),
    case("presets-diff-missing-second", "presets", "diff", "txt2img/basic", "{in}/nope.yaml", words=("nope.yaml",)),
    case("presets-diff-bomb", "presets", "diff", "txt2img/basic", "{bomb.yaml}",
         files={"bomb.yaml": text(mapping_bomb())}, words=("{bomb.yaml}", "values, counting each alias"),
         time_limit=2.0),
    case("presets-list-shows-a-broken-user-preset", "presets", "list", "--json", code=0,
         setup=_user_preset(mapping_bomb()), words=('"txt2img/broken"', "values, counting each alias"),
         stdout=('"txt2img/basic"',), log=()),
    case("generate-preset-missing", "generate", "--preset", "txt2img/nope", "--model", "{sd1}", *DRY,
         words=("txt2img/nope",)),
    case("generate-preset-model-missing", "generate", "--preset", "{model.yaml}", *DRY,
         files={"model.yaml": preset("model: {in}/gone.safetensors\n")}, words=("gone.safetensors",)),
    case("generate-preset-of-another-task", "generate", "--preset", "upscale/real-esrgan", "--model", "{sd1}",
         "--prompt", "a fox", *DRY, words=("upscale",)),
]
