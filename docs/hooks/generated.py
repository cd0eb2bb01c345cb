"""MkDocs hook: the parts of the docs written from the code, so they cannot drift from it.

- ``<!-- cli-reference -->``: every ``pruneviz`` command with its usage and options, from the argparse
  parser the CLI runs (:func:`pruneviz.cli.build_parser`);
- ``<!-- benchmarks -->``: every script in ``benchmarks/`` with the first paragraph of its docstring;
- ``<!-- screenshot: Page -->``: the page's screenshot as the browser tests last took it
  (``tests/artifacts/<Page>.png``, written by ``tests/e2e/test_browser.py`` and the Generate step of
  ``tests/e2e/journeys.py``), or a note saying how to take it when the tests have not run here.
"""

from __future__ import annotations

import argparse
import ast
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

from pruneviz.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOT = re.compile(r"<!-- screenshot: (.+?) -->")


def artifact(page: str) -> str:
    """The file name ``tests/e2e/test_browser.py`` gives a page's screenshot (its URL path)."""
    return page.replace(" & ", "_and_").replace(" ", "_") + ".png"


def on_files(files, config):
    """Add the screenshots the pages ask for and the browser tests took, as ``dashboard/img/<Page>.png``."""
    asked = {artifact(m) for f in files.documentation_pages() for m in SCREENSHOT.findall(_source(f))}
    for name in sorted(asked):
        if (ARTIFACTS / name).is_file():
            files.append(File.generated(config, f"dashboard/img/{name}", abs_src_path=str(ARTIFACTS / name)))
    return files


def _source(file) -> str:
    return Path(file.abs_src_path).read_text() if file.abs_src_path else ""


def on_page_markdown(markdown: str, page, config, files) -> str:
    markdown = markdown.replace("<!-- cli-reference -->", cli_reference())
    markdown = markdown.replace("<!-- benchmarks -->", benchmarks())
    return SCREENSHOT.sub(lambda m: screenshot(m.group(1), files, page.file), markdown)


def screenshot(page: str, files, here) -> str:
    name = artifact(page)
    found = files.get_file_from_path(f"dashboard/img/{name}")
    if found is not None:
        link = posixpath.relpath(found.src_uri, posixpath.dirname(here.src_uri))
        return f"![The {page} page]({link})"
    return (
        f'!!! note "No screenshot here yet"\n    The browser tests take it: `make test` writes '
        f"`tests/artifacts/{name}`, and the next `make docs` shows it."
    )


def cli_reference() -> str:
    parser = build_parser()
    out = []
    for name, sub in _subcommands(parser):
        out += [f"### `pruneviz {name}`", "", sub.description or _help_of(parser, name), ""]
        out += ["```text", sub.format_usage().strip(), "```", ""]
        rows = [
            _row(a)
            for a in sub._actions
            if not isinstance(a, argparse._SubParsersAction) and a.help != argparse.SUPPRESS
        ]
        out += ["| argument | what |", "|---|---|", *rows, ""]
    return "\n".join(out)


def _subcommands(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
                if nested:
                    yield from _subcommands(sub, f"{prefix}{name} ")
                else:
                    yield f"{prefix}{name}", sub


def _help_of(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name.split()[-1]:
                    return choice.help or ""
    return ""


def _row(action: argparse.Action) -> str:
    names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}`"
    if action.choices is not None and not isinstance(action.choices, dict):
        names += " (" + ", ".join(f"`{c}`" for c in action.choices) + ")"
    text = (action.help or "").replace("%%", "%").replace("|", "\\|")
    if action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in text:
        text += f" (default: `{action.default}`)"
    return f"| {names} | {text} |"


def benchmarks() -> str:
    rows = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        first = " ".join(doc.split("\n\n")[0].split())
        rows.append(f"- **`benchmarks/{path.name}`**: {first}")
    return "\n".join(rows)
