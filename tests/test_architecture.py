"""The package's shape: its import graph has no cycle and imports downward only, one module holds
every backend-specific import, and only shared helpers and the CLI are at the top."""

import ast
from pathlib import Path

import astrotune

PACKAGE = Path(astrotune.__file__).parent
# Lower layers never import higher ones: cli -> jobs -> reporting -> evaluation -> training ->
# models/data/sky -> shared helpers at the top.
LAYERS = {"cli": 6, "jobs": 5, "reporting": 4, "evaluation": 3, "training": 2, "models": 1, "data": 1, "sky": 1}
MAX_LINES = 300


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path):
    """Every astrotune module ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("astrotune"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("astrotune"))
    return found


def import_graph():
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in imports_of(path) if target in modules} - {name}
            for name, path in modules.items()}


def find_cycle(graph):
    """A list of modules forming a cycle, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target, stack + [target])):
                return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node, [node])):
            return cycle
    return None


def layer(module):
    """The layer of a module (the package itself, ``__init__``, only installs the registration hook)."""
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def test_import_graph_has_no_cycle():
    assert find_cycle(import_graph()) is None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_subpackages_import_downward_only():
    upward = [(source, target) for source, targets in import_graph().items() for target in targets
              if layer(target) > layer(source) and source != "astrotune"]
    assert upward == []


def test_modules_stay_small():
    assert {module_name(path): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_LINES} == {}


def test_top_level_holds_only_shared_helpers_and_the_cli():
    top = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert top == ["__init__", "backend", "cli", "config", "config_checks", "errors", "io", "logs"]


def test_only_the_backend_module_imports_a_backend_library():
    """``backend.py`` holds what differs between Keras backends; the rest uses ``keras.ops``."""
    libraries = {"tensorflow", "jax", "torch"}
    importers = {module_name(path) for path in PACKAGE.rglob("*.py")
                 for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, (ast.Import, ast.ImportFrom))
                 and {(alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
                      for alias in node.names} & libraries}
    assert importers == {"astrotune.backend"}
