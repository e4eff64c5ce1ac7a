"""Dynamic prompts for batch runs, in the A1111 dynamic-prompts extension's syntax, by its own library.

`{red|green|blue}` picks one, `{2$$a|b|c}` picks two, `__colours__` picks a line of
`wildcards/colours.txt` (nested folders and wildcards in wildcards work as in the extension). The
wildcards folder is the one beside the job file, else the config's `wildcards_dir` setting. A
wildcard that no file defines is an error before anything runs (the library would keep its name in
the prompt). Random choices are seeded by the image's seed alone, so a prompt is the same on every run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sdkit.core.errors import UnknownKeyError, UserInputError

WILDCARD = re.compile(r"__([^_\s][^\s]*?)__")
SYNTAX = re.compile(r"[{}]|__\S+?__")
# The most prompts one template may enumerate with --combinatorial.
MAX_COMBINATIONS = 100_000


def wildcard_folder(job_file: Path) -> Path | None:
    """`wildcards/` beside the job file, else the folder the config's `wildcards_dir` names."""
    beside = job_file.parent / "wildcards"
    if beside.is_dir():
        return beside
    from sdkit.runtime.config import raw_config

    configured = raw_config().get("wildcards_dir")
    return Path(str(configured)).expanduser() if configured else None


class PromptExpander:
    """Expands prompt templates per image; `combinatorial` enumerates every variant instead of choosing."""

    def __init__(self, folder: Path | None, combinatorial: bool = False) -> None:
        self.folder = folder
        self.combinatorial = combinatorial
        self._manager: Any = None
        self._counts: dict[str, int] = {}

    def _wildcards(self) -> Any:
        if self._manager is None:
            from dynamicprompts.wildcards import WildcardManager

            self._manager = WildcardManager(self.folder)
        return self._manager

    def check(self, template: str) -> None:
        """A `UserInputError` for a wildcard that no file in the folder defines."""
        for name in WILDCARD.findall(template):
            if "*" in name:
                continue  # a glob matches what is there, or nothing
            known = self._wildcards().get_collection_names() if self.folder is not None else set()
            if name not in known:
                where = f"in {self.folder}" if self.folder else "(no wildcards folder beside the job file)"
                raise UnknownKeyError("wildcard", name, known,
                                      f"write one value a line into {name}.txt {where}, "
                                      "or set wildcards_dir in the config")

    def count(self, template: str) -> int:
        """How many prompts `template` enumerates (--combinatorial), up to the limit."""
        if template not in self._counts:
            self._counts[template] = len(self._enumerate(template))
        return self._counts[template]

    def _enumerate(self, template: str) -> list[str]:
        self.check(template)
        if not SYNTAX.search(template):
            return [template]
        from dynamicprompts.generators import CombinatorialPromptGenerator

        generator = CombinatorialPromptGenerator(wildcard_manager=self._wildcards())
        prompts = generator.generate(template, max_prompts=MAX_COMBINATIONS + 1)
        if len(prompts) > MAX_COMBINATIONS:
            raise UserInputError(f"the prompt {template[:60]!r} has more than {MAX_COMBINATIONS:,} variants",
                                 "drop --combinatorial to choose one variant per seed")
        return list(prompts)

    def _choose(self, template: str, seed: int) -> str:
        self.check(template)
        if not SYNTAX.search(template):
            return template
        from dynamicprompts.generators import RandomPromptGenerator

        generator = RandomPromptGenerator(wildcard_manager=self._wildcards())
        (prompt,) = generator.generate(template, 1, seeds=[seed])
        return str(prompt)

    def expand(self, templates: dict[str, Any], seed: int) -> Iterator[dict[str, str]]:
        """The prompt texts of one image (or, combinatorial, of each variant of its prompt)."""
        chosen = {key: self._choose(str(value), seed) for key, value in templates.items() if key != "prompt"}
        if "prompt" not in templates:
            yield chosen
            return
        prompt = str(templates["prompt"])
        variants = self._enumerate(prompt) if self.combinatorial else [self._choose(prompt, seed)]
        for variant in variants:
            yield {"prompt": variant, **chosen}
