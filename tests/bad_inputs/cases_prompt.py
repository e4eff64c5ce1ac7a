"""`sdkit prompt`: how a prompt is read (emphasis, chunks, LoRA tags, scheduled parts) given hostile text
or a bad model, with the model's tokenizer and no UNet loaded."""

from __future__ import annotations

from bad_inputs.builders import safetensors, text, unsafe_pickle
from bad_inputs.corpus import case

MARKER = "{tmp}/payload-ran"

CASES = [
    case("prompt-model-empty", "prompt", "a fox", "--model", "", words=("model", "empty")),
    case("prompt-model-missing", "prompt", "a fox", "--model", "{in}/nope.safetensors", words=("nope.safetensors",)),
    case("prompt-model-broken-header", "prompt", "a fox", "--model", "{bad.safetensors}",
         files={"bad.safetensors": safetensors({"a": {"dtype": "F32", "shape": [1], "data_offsets": ["zz", 4]}})},
         words=("{bad.safetensors}", "data_offsets")),
    case("prompt-model-text-file", "prompt", "a fox", "--model", "{notes.ckpt}",
         files={"notes.ckpt": text("prompts I like\n" * 20)}, words=("{notes.ckpt}", "text file")),
    case("prompt-model-unsafe-pickle", "prompt", "a fox", "--model", "{evil.ckpt}",
         files={"evil.ckpt": unsafe_pickle(MARKER)}, words=("{evil.ckpt}", "refused to load"), absent=(MARKER,)),
    case("prompt-models-dir-is-a-file", "prompt", "a fox", "--model", "dreamshaper_8", files={"models.txt": text("x")},
         env={"SDKIT_MODELS_DIR": "{models.txt}"}, words=("{models.txt}", "is a file")),
    case("prompt-lora-weight-not-a-number", "prompt", "a fox <lora:detail:lots>",
         words=("the weight 'lots' in <lora:detail:lots> is not a number",)),
    case("prompt-lora-without-name", "prompt", "<lora::0.5> a fox", words=("<lora::0.5> names no LoRA",)),
    case("prompt-unknown-network-is-removed", "prompt", "<hypernet:x:1> a fox", code=0,
         words=("warning", "<hypernet:x:1> is not a network sdkit knows"), log=()),
    case("prompt-escape-sequences-are-shown-escaped", "prompt", "a \x1b[2J\x1b]0;pwned\x07fox", code=0,
         words=("'a \\x1b'",), log=()),
    case("prompt-deep-nesting-is-read-as-text", "prompt", "(" * 20_000 + "fox", code=0, words=("tokens:",), log=(),
         time_limit=3.0),
    case("prompt-unbalanced-brackets", "prompt", "[[a fox)) :1.5 [", "--steps", "4", code=0, words=("tokens:",),
         log=()),
    case("prompt-many-alternations", "prompt", "[" + "|".join("abcdefghij") + "] " * 200, "--steps", "50", code=0,
         words=("until step 50",), log=(), time_limit=3.0, max_output=200_000),
    case("prompt-very-long", "prompt", "a fox, " * 3_000, code=0, words=("tokens:",), log=(), time_limit=3.0,
         max_output=200_000),
]
