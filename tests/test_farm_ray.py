"""``vs-colorize farm run`` on a real Ray cluster (head + two worker nodes on 127.0.0.1), one node killed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Ray rewrites 127.0.0.1 into the machine's address unless told its clusters are local; set before import.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
from onnx_models import tint
from ray.cluster_utils import Cluster
from test_farm import RENDER, frame_hashes, reference, write_scenes

from vs_colorize.cli import main

LOOPBACK = {"node_ip_address": "127.0.0.1"}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster(
        initialize_head=True,
        head_node_args={**LOOPBACK, "num_cpus": 0, "include_dashboard": False},
    )
    try:
        for _ in range(2):
            c.add_node(**LOOPBACK, num_cpus=1)
        c.wait_for_nodes(timeout=120)
        yield c
    finally:
        c.shutdown()


def _wait(condition: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state letter


def _holder(path: Path) -> int | None:
    """The process that has ``path`` open (Linux /proc), if any."""
    for fds in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == os.fspath(path) for fd in fds.iterdir()):
                return int(fds.parent.name)
        except OSError:  # gone, or not ours to read
            continue
    return None


def _busiest(cluster: Cluster, parts: Callable[[], list[Path]]) -> tuple[Any, int]:
    """The worker node rendering the ``.part`` with the fewest bytes written, and the process writing it."""
    raylets = {node.all_processes["raylet"][0].process.pid: node for node in cluster.worker_nodes}
    end = time.monotonic() + 30
    while time.monotonic() < end:
        for part in sorted(parts(), key=lambda p: p.stat().st_size if p.exists() else float("inf")):
            pid = ancestor = _holder(part)
            try:
                while ancestor and ancestor > 1:
                    if ancestor in raylets:
                        return raylets[ancestor], pid  # type: ignore[return-value]
                    ancestor = _parent(ancestor)
            except OSError:  # the writer just exited
                continue
        time.sleep(0.02)
    raise AssertionError("no worker node's process holds an open chunk .part")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_run_survives_a_killed_node_resumes_and_matches_one_process(cluster: Cluster, tmp_path: Path) -> None:
    clip = write_scenes(tmp_path / "scenes.mp4")
    plan_dir = tmp_path / "plan"
    render = [*RENDER]
    render[render.index("--render-factor") + 1] = "8"  # slow enough to kill a node mid-chunk
    assert main(["farm", "plan", str(clip), str(plan_dir), *render, "--chunks", "4", "-q"]) == 0
    assert main(["farm", "chunk", str(plan_dir), "0", "-q"]) == 0  # done before the run: resumed
    chunks = plan_dir / "chunks"
    first = (chunks / "chunk_00000.mkv").stat().st_mtime_ns
    out = tmp_path / "joined.mkv"
    cmd = [sys.executable, "-m", "vs_colorize", "farm", "run", str(plan_dir), str(out)]
    driver = subprocess.Popen(
        [*cmd, "--address", cluster.address, "--retries", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        parts = lambda: [p for p in chunks.iterdir() if ".part" in p.name]  # noqa: E731
        assert _wait(lambda: len(parts()) == 2, 180), "both workers never rendered at once"
        # The victim is the node rendering the chunk with the least written: the other worker may be a
        # moment from its end, and a chunk that finishes before the kill lands would never be retried.
        victim, pid = _busiest(cluster, parts)
        cluster.remove_node(victim, allow_graceful=False)
        _kill(pid)  # a lost machine takes its processes with it; Ray's worker outlives its raylet a while
        stdout, stderr = driver.communicate(timeout=240)
    finally:
        driver.kill()
    log = stderr.decode()
    assert driver.returncode == 0, log
    assert stdout == b""
    assert "1 of 4 chunks already done" in log
    assert "lost its worker" in log
    assert (chunks / "chunk_00000.mkv").stat().st_mtime_ns == first
    ref = reference(clip, tmp_path / "ref.mkv", "--render-factor", "8")
    assert frame_hashes(out) == frame_hashes(ref)


def test_a_worker_that_cannot_load_the_model_fails_the_run_once(tmp_path: Path) -> None:
    clip = write_scenes(tmp_path / "scenes.mp4", frames=20, cuts=(10,))
    model = tmp_path / "tint.onnx"
    tint(model)
    plan_dir = tmp_path / "plan"
    render = ["--model", str(model), "--render-factor", "4", "--codec", "ffv1"]
    assert main(["farm", "plan", str(clip), str(plan_dir), *render, "--chunks", "2", "-q"]) == 0
    model.unlink()  # the workers cannot resolve the planned model
    out = tmp_path / "joined.mkv"
    cmd = [
        sys.executable,
        "-m",
        "vs_colorize",
        "farm",
        "run",
        str(plan_dir),
        str(out),
        "--local-workers",
        "1",
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=240)
    assert done.returncode == 1, done.stderr.decode()
    assert "a worker could not start" in done.stderr.decode()
    assert "neither a file nor a registry name" in done.stderr.decode()
    assert done.stdout == b""
    assert not out.exists()
