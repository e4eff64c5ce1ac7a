"""The shape of the code: no import circles, and lower layers never import higher ones.

Every `import sdkit...` in `src/sdkit` counts, also those inside functions (lazy imports of heavy
parts) and under `TYPE_CHECKING`, since each is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first; a module may import its own layer's and lower layers' modules only.
LAYERS = [
    {"sdkit", "sdkit.core"},
    {"sdkit.runtime", "sdkit.files"},
    {"sdkit.registry"},
    {"sdkit.samplers", "sdkit.demo", "sdkit.outputs", "sdkit.presets", "sdkit.upscale", "sdkit.models",
     "sdkit.prompts", "sdkit.networks", "sdkit.sampling"},
    {"sdkit.plugin"},
    {"sdkit.engines"},
    {"sdkit.run"},
    {"sdkit.bench", "sdkit.debug", "sdkit.batch", "sdkit.service"},
    {"sdkit.server", "sdkit.ui"},
    {"sdkit.cli", "sdkit.__main__"},
]


def module_names() -> dict[str, Path]:
    found = {}
    for path in (SRC / "sdkit").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            imported.add(module)
            imported.update(f"{module}.{alias.name}" for alias in node.names)
    return {module for module in imported if module in known and module != name}


def graph() -> dict[str, set[str]]:
    known = module_names()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(top + ".") for top in layer if top != "sdkit") or module == "sdkit":
            return index
    raise AssertionError(f"{module} is in no layer of LAYERS; add its package there")


def test_there_are_no_import_circles():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert circles == []


def test_lower_layers_never_import_higher_ones():
    upward = sorted(f"{module} -> {other}" for module, others in graph().items() for other in others
                    if layer_of(other) > layer_of(module))
    assert upward == []


def test_every_module_is_in_a_layer_and_none_is_over_400_lines():
    long = []
    for name, path in module_names().items():
        layer_of(name)
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > 400:
            long.append(f"{name}: {lines}")
    assert long == []


def test_the_checker_sees_a_circle_and_an_upward_import(tmp_path):
    known = {"sdkit.core.a": tmp_path / "a.py", "sdkit.cli.b": tmp_path / "b.py"}
    known["sdkit.core.a"].write_text("from sdkit.cli import b\n")
    known["sdkit.cli.b"].write_text("def f():\n    import sdkit.core.a\n")
    assert imports_of("sdkit.core.a", known["sdkit.core.a"], known) == {"sdkit.cli.b"}
    assert imports_of("sdkit.cli.b", known["sdkit.cli.b"], known) == {"sdkit.core.a"}
    assert layer_of("sdkit.cli.b") > layer_of("sdkit.core.a")
