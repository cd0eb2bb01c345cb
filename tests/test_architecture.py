"""The layout is the design: layers import downwards only, no import cycles, no hidden imports.

pruneviz/core  (pure rules over tensors)
      io       (models, data, file formats)
      tasks    (what a model does with its data)
      workflows(what the CLI and the pages both run)
      views    (figures and reports, no front end)
      cli, ui  (front ends: parse and print, gather and render)
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pruneviz"
LAYERS = ["core", "io", "tasks", "workflows", "views", "front"]  # each may import only those before it
FRONT_ENDS = {"api", "cli", "commands", "ui", "__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported pruneviz module, whether the import sits inside a function) for one file."""
    found = []
    tree = ast.parse(path.read_text())
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pruneviz"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            target = next((n for n in names if _exists(n)), node.module)
            found.append((target, id(node) in nested))
        elif isinstance(node, ast.Import):
            found += [(a.name, id(node) in nested) for a in node.names if a.name.startswith("pruneviz")]
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {m: {t for t, _ in _imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    return LAYERS.index("front" if part in FRONT_ENDS else part) if part in (*LAYERS, *FRONT_ENDS) else -1


def test_there_is_no_import_cycle():
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if target.startswith(module + "."):
                continue  # a package's __init__ importing its own modules is not a cycle
            assert state.get(target) != 1, "import cycle: " + " -> ".join([*path, module, target])
            if target not in state:
                visit(target, [*path, module])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])


def test_the_cycle_check_can_fail():
    saved = GRAPH["pruneviz.core.masks"]
    GRAPH["pruneviz.core.masks"] = saved | {"pruneviz.core.granularity"}  # granularity imports masks
    try:
        with pytest.raises(AssertionError, match="import cycle"):
            test_there_is_no_import_cycle()
    finally:
        GRAPH["pruneviz.core.masks"] = saved


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) >= 0))
def test_each_layer_imports_only_the_layers_below_it(module):
    upward = [t for t in GRAPH[module] if _layer(t) > _layer(module)]
    assert not upward, f"{module} imports from a higher layer: {upward}"


def test_no_pruneviz_import_hides_inside_a_function():
    hidden = [(m, t) for m, p in MODULES.items() for t, inside in _imports(p) if inside]
    assert hidden == []


def test_only_the_command_line_loads_pruneviz_modules_by_name():
    """pruneviz/cli.py loads the command that runs by name (so ``--help`` imports no torch), and the
    package loads its API on first use (so ``import pruneviz`` imports no torch); anywhere else a by-name
    import would be a hidden one (io/models.py loads the user's python: specs, never pruneviz's own
    modules)."""
    by_name = {m for m, p in MODULES.items() if "import_module(" in p.read_text()}
    assert by_name == {"pruneviz", "pruneviz.cli", "pruneviz.io.models"}
    assert 'import_module(f"{COMMANDS}.' in (PACKAGE / "cli.py").read_text()
    assert 'import_module("pruneviz.api")' in (PACKAGE / "__init__.py").read_text()


def test_only_the_ui_package_imports_streamlit():
    for module, path in MODULES.items():
        if module.startswith("pruneviz.ui"):
            continue
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not any(n.split(".")[0] == "streamlit" for n in names), module


ROOT = PACKAGE.parent
FRONT = sorted(
    [
        ROOT / "app.py",
        *(ROOT / "pages").glob("*.py"),
        PACKAGE / "cli.py",
        *(PACKAGE / "commands").glob("*.py"),
        *(PACKAGE / "ui").glob("*.py"),
    ]
)
TASK_NAMES = {"CLASSIFICATION", "LANGUAGE_MODELLING"}


def _named(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def task_questions(source: str) -> list[str]:
    """Where ``source`` asks which task (or which kind of model) it has instead of asking the task:
    comparing with a task object, with ``.task`` or a family name, or testing for a tokenizer."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [_named(n) for n in (node.left, *node.comparators)]
            if TASK_NAMES & set(sides) or "task" in sides or "tokenizer" in sides or "family" in sides:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and _named(node.func) == "hasattr":
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Name) and node.id in TASK_NAMES:
            found.append(f"line {node.lineno}: {node.id}")
    return found


@pytest.mark.parametrize("path", FRONT, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_or_command_asks_which_task_it_has(path):
    assert task_questions(path.read_text()) == [], "ask the Task (generates, latency, structure, ...) instead"


@pytest.mark.parametrize(
    "source",
    [
        "if session.task is not CLASSIFICATION: pass",
        "if session.model.tokenizer is None: pass",
        "x = session.task == other",
        "if anatomy.family == 'llama': pass",
        "ok = hasattr(model, 'generate')",
    ],
)
def test_the_task_question_check_can_fail(source):
    assert task_questions(source)


RECORDS = {"plans", "solved"}  # the session's record of how each mask was made


def _writes_records(tree: ast.AST) -> list[int]:
    """Lines that write a session's plans or solved record from outside it: ``x.plans[k] = …``,
    ``x.plans = …`` or ``x.plans.update/pop/clear(…)`` on anything but ``self``."""

    def record(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and node.attr in RECORDS
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
        )

    lines = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if record(target) or (isinstance(target, ast.Subscript) and record(target.value)):
                lines.append(node.lineno)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("update", "pop", "clear", "setdefault")
            and record(node.func.value)
        ):
            lines.append(node.lineno)
    return lines


def _found_in_modules_and_pages(check, besides: str = "") -> dict[str, list[int]]:
    """``check``'s lines in every pruneviz module but ``besides`` and in every page, where it finds any."""
    files = {m: p for m, p in MODULES.items() if m != besides}
    files |= {p.name: p for p in (PACKAGE.parent / "pages").glob("*.py")}
    return {name: lines for name, p in files.items() if (lines := check(ast.parse(p.read_text())))}


def test_only_the_session_writes_how_its_masks_were_made():
    """``PruneSession.set_mask(name, mask, weight, plan, solved_by)`` is the one writer of a session's
    plans and solved record (workflows/sequential.py used to write them itself)."""
    assert _found_in_modules_and_pages(_writes_records) == {}


def test_the_records_check_can_fail():
    assert _writes_records(ast.parse("session.plans[name] = plan\nsession.solved.update(x)")) == [1, 2]
    assert _writes_records(ast.parse("self.plans[name] = plan")) == []


PARTS = {"masking", "scoring"}  # the session's parts (workflows/masking.py, workflows/scoring.py)


def _reaches_parts(tree: ast.AST) -> list[int]:
    """Lines that reach into a session's part from outside it (``session.masking…``), in order."""
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in PARTS
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    )


def test_only_the_session_reaches_into_its_parts():
    """``PruneSession`` is a facade: its mask state and its scores cache each have one owner, and every
    other module goes through the session's methods (which keep the versions and the evaluator in step)."""
    assert _found_in_modules_and_pages(_reaches_parts, besides="pruneviz.workflows.session") == {}


def test_the_parts_check_can_fail():
    assert _reaches_parts(ast.parse("session.masking.set(name, w, None)\nx = s.scoring")) == [1, 2]
    assert _reaches_parts(ast.parse("self.masking.set(name, w, None)")) == []
