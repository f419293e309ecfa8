"""The import layering of the package (docs/architecture.md), checked by parsing every module with ``ast``.

Layers, lowest first; a module may import its own layer and the ones below, never one above:

0. ``_utils``, ``_version``: imports nothing else of the package
1. ``models.config``, ``models.validation``, ``recipe``, ``presets`` (config as data), ``data``, ``anchors``
2. ``weights``: the weights catalogue, downloads, saved-weights sources
3. ``models`` (builder, network, loading, backbone, registry, init, the package itself)
4. ``hub``: save_pretrained / from_pretrained / push_to_hub, checkpoint conversion, model cards
5. ``engine``, ``inference``, ``export``
6. ``cli``, ``demo``, ``__main__`` and the top-level package ``maskrcnn_custom`` (the user-facing facade)

Both module-level and function-local imports count, relative and absolute. Besides upward imports the test
fails on any import cycle between modules and on imports of the deprecated alias modules from inside the
package (the aliases exist for users only).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = "maskrcnn_custom"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

#: Alias modules kept for one release; only users may import them.
DEPRECATED_ALIASES = frozenset(
    f"{PACKAGE}.{m}" for m in ("hub.atomic", "hub.download", "hub.model_weights", "hub.source", "data.export")
)

LAYER_NAMES = {
    0: "_utils",
    1: "config/data",
    2: "weights",
    3: "models",
    4: "hub",
    5: "engine/inference/export",
    6: "cli/demo",
}


def layer_of(module: str) -> int:
    parts = module.split(".")[1:]
    if not parts or parts[0] in ("cli", "demo", "__main__"):
        return 6
    head = parts[0]
    if head in ("_utils", "_version"):
        return 0
    if head == "models" and len(parts) > 1 and parts[1] in ("config", "validation"):
        return 1
    if head in ("recipe", "presets", "data", "anchors", "measure"):
        return 1
    if head == "weights":
        return 2
    if head == "models":
        return 3
    if head == "hub":
        return 4
    if head in ("engine", "inference", "export"):
        return 5
    raise AssertionError(f"module {module} has no layer; add its folder to layer_of and docs/architecture.md")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if node.level == 0:
        return node.module or ""
    base = package.split(".")
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str, path: Path) -> list[tuple[int, str, str]]:
    """``(line, imported module, source text)`` for every import of the package inside ``module``."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in MODULES else base)
        for target in dict.fromkeys(targets):
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                while target not in MODULES and "." in target:  # `import a.b.c` where c is a name
                    target = target.rpartition(".")[0]
                found.append((node.lineno, target, ast.get_source_segment(text, node)))
    return found


def _graph() -> dict[str, list[tuple[int, str, str]]]:
    return {module: imports_of(module, path) for module, path in MODULES.items()}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_higher_layer():
    problems = []
    for module, edges in _graph().items():
        mine = layer_of(module)
        for line, target, text in edges:
            theirs = layer_of(target)
            if theirs > mine:
                problems.append(
                    f"{MODULES[module].relative_to(SRC.parent)}:{line}: {module} (layer {mine}, "
                    f"{LAYER_NAMES[mine]}) imports {target} (layer {theirs}, {LAYER_NAMES[theirs]}): {text!r}"
                )
    assert not problems, "upward imports (see docs/architecture.md):\n" + "\n".join(problems)


def test_no_module_of_the_package_imports_a_deprecated_alias():
    problems = [
        f"{MODULES[module].relative_to(SRC.parent)}:{line}: {module} imports the deprecated alias {target}: {text!r}"
        for module, edges in _graph().items()
        for line, target, text in edges
        if target in DEPRECATED_ALIASES and module not in DEPRECATED_ALIASES
    ]
    assert not problems, "import the new module instead:\n" + "\n".join(problems)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_there_is_no_import_cycle_between_modules():
    edges = _graph()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, found in edges.items():
        for _, target, _ in found:
            if target != module:
                graph[module].add(target)
    problems = []
    for component in _cycles(graph):
        members = set(component)
        lines = [
            f"  {MODULES[m].relative_to(SRC.parent)}:{line}: {m} imports {target}: {text!r}"
            for m in component
            for line, target, text in edges[m]
            if target in members and target != m
        ]
        problems.append(f"cycle between {', '.join(component)}:\n" + "\n".join(lines))
    assert not problems, "import cycles:\n" + "\n".join(problems)


def test_the_checker_sees_function_local_and_relative_imports(tmp_path):
    # The parser must catch a function-local relative import two levels up, and name its line.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..hub.pretrained import from_pretrained\n", encoding="utf-8")
    found = imports_of(f"{PACKAGE}.weights.probe", probe)
    assert found == [(2, f"{PACKAGE}.hub.pretrained", "from ..hub.pretrained import from_pretrained")]
    assert layer_of(found[0][1]) > layer_of(f"{PACKAGE}.weights.probe")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_weights_import_only_the_utilities_and_the_config_layer():
    allowed = ("_utils", "_version", "models.config", "models.validation", "recipe", "weights")
    problems = [
        f"{MODULES[module].relative_to(SRC.parent)}:{line}: {text!r}"
        for module, edges in _graph().items()
        if module.startswith(f"{PACKAGE}.weights")
        for line, target, text in edges
        if not any(target == f"{PACKAGE}.{a}" or target.startswith(f"{PACKAGE}.{a}.") for a in allowed)
    ]
    assert not problems, (
        "weights/ may import only _utils, models.config / models.validation and recipe:\n"
        + "\n".join(problems)
    )
