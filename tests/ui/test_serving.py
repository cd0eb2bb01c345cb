import ast
from pathlib import Path

import pytest

from pruneviz.core.errors import PrunevizError
from pruneviz.ui.serving import ServerPolicy, is_loopback


def test_defaults_share_the_working_directory_and_allow_no_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rules = ServerPolicy.from_env({})
    assert rules.data_roots == (tmp_path.resolve(),) and not rules.allow_python and rules.allow_pickle
    rules.check_spec(f"folder:{tmp_path / 'val'}")
    rules.check_spec("folder:val")  # relative to the server's directory
    with pytest.raises(PrunevizError, match="would run Python code"):
        rules.check_spec("python:os:getcwd")


@pytest.mark.parametrize("escape", ["/etc", "../outside", "inside/../../outside", "link/passwd"])
def test_paths_outside_the_data_root_are_refused_even_through_dots_and_links(tmp_path, escape, monkeypatch):
    root = tmp_path / "shared"
    (root / "inside").mkdir(parents=True)
    (root / "link").symlink_to("/etc")
    monkeypatch.chdir(root)
    rules = ServerPolicy.from_env({"PRUNEVIZ_DATA_ROOT": str(root)})
    with pytest.raises(PrunevizError, match=r"outside the folders this server shares.*PRUNEVIZ_DATA_ROOT"):
        rules.check_spec(f"folder:{escape}")
    with pytest.raises(PrunevizError, match="outside"):
        rules.check_spec(f"torchvision:MNIST:{escape}:download")


def test_uploads_and_several_roots_are_shared(tmp_path):
    a, b, uploads = tmp_path / "a", tmp_path / "b", tmp_path / "up"
    rules = ServerPolicy.from_env({"PRUNEVIZ_DATA_ROOT": f"{a}:{b}"}, uploads=uploads)
    for path in (a / "x", b / "y", uploads / "m.pt"):
        rules.check_spec(f"file:{path}")
    with pytest.raises(PrunevizError):
        rules.check_spec(f"file:{tmp_path / 'c'}")


def test_switches_for_python_pickles_and_session_memory():
    rules = ServerPolicy.from_env(
        {"PRUNEVIZ_ALLOW_PYTHON": "1", "PRUNEVIZ_ALLOW_PICKLE": "0", "PRUNEVIZ_SESSION_MEMORY_MB": "64"}
    )
    rules.check_spec("python:os:getcwd")
    rules.check_trust(False)
    with pytest.raises(PrunevizError, match="does not unpickle"):
        rules.check_trust(True)
    assert rules.session_memory_bytes == 64 * 2**20
    with pytest.raises(PrunevizError, match="PRUNEVIZ_SESSION_MEMORY_MB must be a number"):
        ServerPolicy.from_env({"PRUNEVIZ_SESSION_MEMORY_MB": "lots"})


def test_home_shorthand_is_expanded_before_the_check(tmp_path):
    rules = ServerPolicy.from_env({"PRUNEVIZ_DATA_ROOT": str(tmp_path)})
    with pytest.raises(PrunevizError, match="outside"):
        rules.check_spec("folder:~")
    assert Path("~").expanduser() != tmp_path


def test_nothing_the_dashboard_runs_shells_out():
    # User strings reach specs and file names; none of the engine or UI code may hand them to a shell.
    root = Path(__file__).resolve().parents[2]
    files = [root / "app.py", *(root / "pages").glob("*.py"), *(root / "pruneviz").rglob("*.py")]
    for file in files:
        tree = ast.parse(file.read_text(), str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not {"subprocess", "pty"} & {n.split(".")[0] for n in names}, file
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
                assert node.attr not in {"system", "popen", "execv", "execvp", "spawnv", "spawnl"}, file


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("", False),  # Streamlit's default: every interface
        (None, False),
        ("workshop.example.org", False),  # a name could resolve anywhere
    ],
)
def test_which_addresses_serve_this_machine_only(address, loopback):
    assert is_loopback(address) is loopback
    assert ServerPolicy.from_env({}, address=address).exposed is not loopback


def test_a_room_refuses_pickles_and_code_unless_the_starter_allows_them():
    room = ServerPolicy.from_env({}, address="0.0.0.0")
    assert room.exposed and not room.allow_pickle and not room.allow_python
    with pytest.raises(PrunevizError, match=r"does not unpickle uploaded files.*PRUNEVIZ_ALLOW_PICKLE=1"):
        room.check_trust(True)
    with pytest.raises(PrunevizError, match="would run Python code"):
        room.check_spec("python:os:getcwd")
    loosened = ServerPolicy.from_env(
        {"PRUNEVIZ_ALLOW_PICKLE": "1", "PRUNEVIZ_ALLOW_PYTHON": "1"}, address="0.0.0.0"
    )
    assert loosened.allow_pickle and loosened.allow_python
    own = ServerPolicy.from_env({}, address="127.0.0.1")
    assert own.allow_pickle and not own.allow_python  # one person on their own machine, as before
    with pytest.raises(PrunevizError, match="PRUNEVIZ_ALLOW_PICKLE must be 0 or 1, not 'yes'"):
        ServerPolicy.from_env({"PRUNEVIZ_ALLOW_PICKLE": "yes"})


def test_the_rules_a_page_shows_follow_the_policy():
    room = dict((what, ok) for what, ok, _ in ServerPolicy.from_env({}, address="0.0.0.0").rules())
    own = dict((what, ok) for what, ok, _ in ServerPolicy.from_env({}, address="127.0.0.1").rules())
    pickles = next(w for w in room if w.startswith("unpickle"))
    assert room[pickles] is False and own[pickles] is True
    assert not room[next(w for w in room if w.startswith("name python:"))]
