"""Sweeps on a real Ray cluster: a head and a second node started here (`ray start --block`, one CPU
each, token authentication) and stopped by their process ids at the end; no mocks."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.distributed import RayExecutor, check_reachable
from pruneviz.workflows.sensitivity import SweepSpec, sweep
from pruneviz.workflows.session import open_session
from tests.e2e.test_cli import PRUNEVIZ, run

RAY = str(Path(sys.executable).with_name("ray"))
LEVELS = "0,0.2,0.4,0.6,0.8,0.9"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_auth(directory: Path) -> dict[str, str]:
    """Token authentication (Ray 2.60 turns it on by default) with a fresh token in ``directory``."""
    token = directory / "token"
    token.write_text(secrets.token_hex(32))
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}


def ray_node(env: dict[str, str], *args: str) -> subprocess.Popen:
    """``ray start ARGS --block`` with one CPU, in a process group of its own (the node's every
    process: the lost-cluster test kills exactly that group)."""
    common = ["--num-cpus", "1", "--block", "--disable-usage-stats", "--object-store-memory", "100000000"]
    return subprocess.Popen(
        [RAY, "start", *args, *common], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def ray_head(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """A head node on 127.0.0.1 and its address, once it answers."""
    port = free_port()
    head = ray_node(env, "--head", "--port", str(port), "--include-dashboard=false")
    deadline = time.monotonic() + 120
    while True:
        try:
            check_reachable(f"127.0.0.1:{port}")
            return head, f"127.0.0.1:{port}"
        except PrunevizError:
            assert time.monotonic() < deadline and head.poll() is None, "the Ray head did not start"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``host:port`` of a two-node cluster (head + one node, one CPU each) on this machine."""
    auth = ray_auth(tmp_path_factory.mktemp("ray"))
    env = {**os.environ, **auth}
    processes = []
    saved = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)  # this process joins the cluster too (the kill test)
    try:
        head, address = ray_head(env)
        processes.append(head)
        processes.append(ray_node(env, "--address", address))
        yield address
    finally:
        import ray

        ray.shutdown()
        for process in reversed(processes):  # exactly the two started here, by their ids
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=120)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def two_nodes(address: str) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    deadline = time.monotonic() + 120
    while sum(n["Alive"] for n in ray.nodes()) < 2:
        assert time.monotonic() < deadline, "the second node did not join"
        time.sleep(0.5)


def test_a_sweep_across_two_nodes_equals_the_local_sweep(cluster, tmp_path):
    two_nodes(cluster)
    local, remote = tmp_path / "local.csv", tmp_path / "ray.csv"
    run("sensitivity", "demo:cnn", "--levels", LEVELS, "--out", str(local))
    run("sensitivity", "demo:cnn", "--levels", LEVELS, "--executor", "ray", "--ray-address", cluster,
        "--out", str(remote))  # fmt: skip
    assert remote.read_text() == local.read_text()
    assert len(remote.read_text().splitlines()) == 1 + 4 * 6


def test_a_worker_killed_mid_sweep_loses_and_duplicates_nothing(cluster):
    import ray

    two_nodes(cluster)
    spec = SweepSpec(tuple(float(v) for v in LEVELS.split(",")))
    expected = sweep(open_session("demo:resnet"), spec)
    executor, killed, seen = RayExecutor(cluster), [], []

    def kill_one(fraction: float, message: str) -> None:
        if not killed:
            pids = ray.get([a.pid.remote() for a in executor.actors])
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids)
        seen.append(executor.alive())

    session = open_session("demo:resnet")
    result = sweep(session, spec, kill_one, executor=executor, on_row=lambda row: None)
    assert killed and len(set(killed[0])) == 2  # two actors, two processes
    keys = [(r.layer, r.sparsity) for r in result.rows]
    assert len(keys) == len(set(keys)) == len(expected.rows)
    assert result.rows == expected.rows  # float for float
    assert (result.baseline_score, result.baseline_loss) == (expected.baseline_score, expected.baseline_loss)
    assert all(alive == (2, 2) for alive in seen)  # restarted, not lost


def test_a_cluster_lost_for_good_ends_in_one_line_and_keeps_the_rows_written(tmp_path):
    """Every process of a one-node cluster is killed mid-sweep: the sweep ends within seconds (Ray
    alone would end the process after a minute, with a page of log lines), says how many points
    the file keeps, and keeps them."""
    env = {**os.environ, **ray_auth(tmp_path)}
    head, address = ray_head(env)
    out = tmp_path / "s.csv"
    levels = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"  # 21 layers x 10 levels: minutes on one worker
    sweep_ = subprocess.Popen(
        [PRUNEVIZ, "sensitivity", "torchvision:resnet18", "--data", "synthetic:3x64x64:256", "--levels",
         levels, "--executor", "ray", "--ray-address", address, "--out", str(out)],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not out.exists() or len(out.read_text().splitlines()) < 11:  # a layer's rows are in
            assert sweep_.poll() is None and time.monotonic() < deadline, "no rows before the loss"
            time.sleep(0.1)
        written = out.read_text()
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # the head node's every process, nothing else
        head.wait(timeout=60)
    lost = time.monotonic()
    _, err = sweep_.communicate(timeout=120)
    kept = len(out.read_text().splitlines()) - 1
    assert sweep_.returncode == 2 and time.monotonic() - lost < 45
    assert err.strip() == (
        f"pruneviz: error: lost the Ray cluster at {address}: its head has not answered for 10 s; "
        f"{kept} of 210 points are in {out} (--resume continues)"
    )
    assert out.read_text().startswith(written) and 10 <= kept < 210


def test_an_unreachable_cluster_is_one_line_within_seconds(tmp_path):
    start = time.monotonic()
    proc = run("sensitivity", "demo:cnn", "--executor", "ray", "--ray-address", f"127.0.0.1:{free_port()}",
               "--out", str(tmp_path / "s.csv"), ok=False)  # fmt: skip
    assert proc.returncode != 0 and "cannot reach the Ray cluster" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and time.monotonic() - start < 60


def test_an_interrupted_sweep_resumes_to_the_same_file(tmp_path):
    """Ctrl-C a local sweep of resnet18 part-way, --resume it: the file equals an uninterrupted run."""
    args = ["sensitivity", "torchvision:resnet18", "--data", "synthetic:3x64x64:64", "--levels", LEVELS]
    whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
    run(*args, "--out", str(whole))
    proc = subprocess.Popen([PRUNEVIZ, *args, "--out", str(cut)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not cut.exists() or len(cut.read_text().splitlines()) < 30:
        assert proc.poll() is None and time.monotonic() < deadline, "the sweep ended before the interrupt"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    kept = len(cut.read_text().splitlines()) - 1
    assert proc.returncode != 0 and f"interrupted; {kept} of 126 points are in" in err and "--resume" in err
    assert 29 <= kept < 126
    run(*args, "--out", str(cut), "--resume")
    assert cut.read_text() == whole.read_text()


def test_resume_refuses_a_file_of_another_sweep(tmp_path):
    out = tmp_path / "s.csv"
    run("sensitivity", "demo:cnn", "--levels", "0,0.5", "--out", str(out))
    proc = run("sensitivity", "demo:mlp", "--levels", "0,0.5", "--out", str(out), "--resume", ok=False)
    assert "holds a point of another sweep" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_the_sensitivity_page_runs_on_the_servers_cluster_only_when_one_is_set(cluster, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.e2e.test_pages import ROOT, WORKSPACE

    def sensitivity_page() -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
        return at.switch_page("pages/5_Sensitivity.py").run()

    monkeypatch.delenv("PRUNEVIZ_RAY_ADDRESS", raising=False)
    assert "Run on the cluster" not in [b.label for b in sensitivity_page().button]
    monkeypatch.setenv("PRUNEVIZ_RAY_ADDRESS", cluster)
    at = sensitivity_page()
    at.selectbox(key="sens_criterion").set_value("l2")  # a sweep no other test has cached
    at.radio(key="sens_mode").set_value("exhaustive: every level")
    next(b for b in at.button if b.label == "Run on the cluster").click().run()
    ws = at.session_state[WORKSPACE]
    job = ws.jobs["sweep"]
    assert ws.live.executor is not None and job.wait(300) and job.error is None, job.error
    at.run()
    assert not at.exception and not at.error
    expected = sweep(open_session("demo:cnn"), SweepSpec(criterion="l2"))
    assert ws.sensitivity.rows == expected.rows and len(expected.rows) == 4 * 20


def test_auto_allocates_the_same_on_a_local_ray_runtime_from_an_adaptive_sweep(tmp_path):
    """An adaptive sweep runs in rounds: each round's points go to the Ray actors like any sweep's."""
    local, remote = tmp_path / "local.yaml", tmp_path / "ray.yaml"
    args = ("auto", "demo:cnn", "--max-drop", "0.01", "--levels", LEVELS, "--adaptive")
    run(*args, "--out", str(local))
    run(*args, "--executor", "ray", "--workers", "2", "--out", str(remote))
    assert remote.read_text() == local.read_text()


def test_two_sessions_starting_a_sweep_at_once_share_one_ray_runtime():
    script = (
        "import threading, ray\n"
        "from pruneviz.workflows.distributed import RayExecutor\n"
        "errors, start = [], threading.Barrier(2)\n"
        "def connect():\n"
        "    start.wait()\n"
        "    try:\n"
        "        RayExecutor(workers=1)._connect(ray)\n"
        "    except Exception as err:\n"
        "        errors.append(repr(err))\n"
        "threads = [threading.Thread(target=connect) for _ in range(2)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(ray.is_initialized(), errors)\n"
        "ray.shutdown()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == "True []", proc.stdout + proc.stderr[-2000:]
