"""The documentation promises only what exists: the site builds strictly, every ``pruneviz`` command and
option the docs and the README show is one the parser knows, the README stays a front page, and the
architecture table names every module."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pruneviz.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md"))
WRITTEN = [ROOT / "README.md", *PAGES]
INLINE = re.compile(r"`((?:python -m )?pruneviz [^`]+)`")


def shown_commands(text: str) -> list[str]:
    """Every ``pruneviz …`` command line in ``text``: in code blocks (comments and pipes cut off) and
    in inline code."""
    found, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            at = re.search(r"(?:^|\s)pruneviz\s", line)
            if at and not line.lstrip().startswith(("import", "#", "from")):
                command = re.split(r"\s+#|\s\||\s>|\s&&|;", line[at.start() :])[0]
                found.append(command.strip())
        else:
            found += [m.group(1) for m in INLINE.finditer(line)]
    return [c.removeprefix("python -m ") for c in found]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def problems(command: str, parser: argparse.ArgumentParser) -> list[str]:
    """What in ``command`` the parser does not know: a subcommand, or an option of it."""
    try:
        words = shlex.split(command)[1:]
    except ValueError:
        return [f"{command!r} does not split like a shell line"]
    found = []
    while words and subparsers(parser) and not words[0].startswith("-"):
        name, words = words[0], words[1:]
        if name in ("...", "…") or name.isupper():  # `pruneviz ...`, `pruneviz COMMAND`: placeholders
            return []
        if name not in subparsers(parser):
            return [f"{command!r}: no command {name!r}"]
        parser = subparsers(parser)[name]
    known = {s for a in parser._actions for s in a.option_strings}
    for word in words:
        option = word.split("=")[0]
        if option.startswith("--") and option not in known and not option.startswith("--server."):
            found.append(f"{command!r}: no option {option}")
    return found


@pytest.mark.parametrize("path", WRITTEN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_and_option_shown_exists(path):
    parser = build_parser()
    commands = shown_commands(path.read_text())
    assert [p for c in commands for p in problems(c, parser)] == []


def test_the_command_check_can_fail():
    parser = build_parser()
    assert problems("pruneviz prune demo:cnn", parser) == ["'pruneviz prune demo:cnn': no command 'prune'"]
    assert problems("pruneviz apply demo:cnn --outfile x", parser) == [
        "'pruneviz apply demo:cnn --outfile x': no option --outfile"
    ]
    assert problems("pruneviz room export --db x.sqlite --out r.csv", parser) == []
    assert shown_commands(
        "```bash\npruneviz info demo:cnn --json   # a comment\n```\nsee `pruneviz auto --max-drop 0.01`"
    ) == [
        "pruneviz info demo:cnn --json",
        "pruneviz auto --max-drop 0.01",
    ]


def test_the_docs_site_builds_strictly_with_the_generated_references(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    cli = (site / "cli" / "index.html").read_text()
    for name in subparsers(build_parser()):
        assert f"pruneviz {name}" in cli, name
    api = (site / "api" / "index.html").read_text()
    assert "Session.prune" in api and "Session.export" in api and "pruneviz.api.open" in api
    assert "benchmarks/lm_browser.py" in (site / "benchmarks" / "index.html").read_text()


def test_the_readme_is_a_front_page_that_links_into_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def test_the_architecture_table_names_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    table = [line for line in doc.splitlines() if line.startswith("| ")]
    package = ROOT / "pruneviz"
    missing = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.name == "__init__.py":
            continue
        folder = rel.parts[0] if len(rel.parts) > 1 else None
        rows = [line for line in table if f"`{rel.name}`" in line or f"`{rel.as_posix()}`" in line]
        if not rows or (folder and folder not in ("ui", "commands") and not _under(table, rows, folder)):
            missing.append(rel.as_posix())
    assert missing == []


def _under(table: list[str], rows: list[str], folder: str) -> bool:
    """Whether one of ``rows`` sits in the table's section for ``folder`` (a section starts at the row
    whose first cell names the folder)."""
    section = None
    for line in table:
        first = line.split("|")[1].strip()
        if first:
            section = first
        if line in rows and section and section.startswith(f"`{folder}/`"):
            return True
    return False
