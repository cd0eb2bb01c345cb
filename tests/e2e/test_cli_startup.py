"""The command line starts at once: the parser imports nothing heavy, and each command imports only
what it uses (pruneviz/cli.py loads the command's module by name)."""

import argparse
import subprocess
import sys
from importlib import import_module

from pruneviz.cli import COMMANDS, build_parser

HEAVY = ("torch", "transformers", "ray", "captum", "onnx", "onnxruntime", "plotly", "streamlit", "sklearn")


def imported_after(*argv: str) -> set[str]:
    """The heavy modules a fresh interpreter holds after ``pruneviz ARGV`` (its exit status ignored)."""
    script = (
        "import sys, contextlib, io\n"
        "from pruneviz.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    try:\n"
        f"        main({list(argv)!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_help_and_argument_errors_import_no_torch():
    assert imported_after("--help") == set()
    assert imported_after("sensitivity") == set()  # required arguments missing
    assert imported_after("evalute") == set()  # no such command


def test_info_imports_torch_and_none_of_the_heavy_libraries_it_does_not_use():
    assert imported_after("info", "demo:cnn") == {"torch"}


def test_every_command_the_parser_names_exists():
    parser = build_parser()
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    runs = []
    while subparsers:
        for sub in subparsers.pop().choices.values():
            if "run" in sub._defaults:
                runs.append(sub._defaults["run"])
            subparsers += [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(runs) == 17
    for run in runs:
        module, command = run.split(":")
        assert callable(getattr(import_module(f"{COMMANDS}.{module}"), command)), run
