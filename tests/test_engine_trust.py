"""TensorRT engine files are native code: refused unless the caller trusts them, before anything reads them.

The file used here is not an engine (TensorRT is not installed on this project's machines); what is tested
is that the refusal comes first, that the opt-in lets the model through to backend selection, that a farm
plan takes no engine, and the cache's ownership/permission rule. Planted once each, each failing its test:
the filter check removed, the CLI check removed (the error becomes "needs tensorrt"), the farm refusal
removed, ``cached_engine_problem`` ignoring the mode bits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx_models as om
import pytest
import tifffile
import vapoursynth as vs
from test_cli_errors import _video

from vs_colorize import colorize
from vs_colorize.cli import EXIT_USAGE, main
from vs_colorize.core.contract import ModelInfo, sidecar_path
from vs_colorize.filters.superres import superres
from vs_colorize.trt_engine import cached_engine_problem

REFUSED = r"is a TensorRT engine, which is native code TensorRT runs as it loads it; pass trust_engine=True"


SUPERRES = ModelInfo(
    kind="superres",
    arch="tiny-sr",
    dynamic_range=(8, 1024),
    multiple=1,
    window=3,
    scale=2,
    in_channels=3,
    out_channels=1,
)


def _engine(path: Path, info: ModelInfo) -> Path:
    """A file named like an engine, with a valid metadata sidecar (its bytes are not an engine)."""
    path.write_bytes(b"not an engine, and never read by a refused call")
    sidecar_path(path).write_text(json.dumps(info.to_props()))
    return path


@pytest.mark.parametrize("suffix", [".engine", ".plan"])
def test_filters_refuse_an_engine_unless_trusted(tmp_path: Path, suffix: str) -> None:
    engine = _engine(tmp_path / f"m{suffix}", om.colorize_info())
    clip = vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=2)
    with pytest.raises(vs.Error, match=rf"^colorize: model '.*m\{suffix}' {REFUSED}"):
        colorize(clip, engine)
    with pytest.raises(vs.Error) as trusted:  # the opt-in passes the gate; here TensorRT is what is missing
        colorize(clip, engine, trust_engine=True)
    assert "trust_engine" not in str(trusted.value) and "tensorrt" in str(trusted.value).lower()

    sr = _engine(tmp_path / f"sr{suffix}", SUPERRES)
    grey = vs.core.std.BlankClip(format=vs.GRAY16, width=32, height=32, length=3)
    with pytest.raises(vs.Error, match=rf"^superres: model '.*sr\{suffix}' {REFUSED}"):
        superres(grey, sr)
    with pytest.raises(vs.Error) as trusted:
        superres(grey, sr, trust_engine=True)
    assert "trust_engine" not in str(trusted.value)


def test_trust_engine_must_be_a_bool(tmp_path: Path) -> None:
    clip = vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=2)
    with pytest.raises(vs.Error, match=r"^colorize: trust_engine must be True or False, got 'yes'"):
        colorize(clip, "demo", trust_engine="yes")  # type: ignore[arg-type]


def test_command_lines_refuse_an_engine_unless_trusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = _engine(tmp_path / "m.engine", om.colorize_info())
    src, out = _video(tmp_path / "in.mkv"), tmp_path / "out.mkv"
    base = ["colorize", str(src), str(out), "--model", str(engine), "--render-factor", "4"]
    assert main(base) == EXIT_USAGE
    assert "--trust-engine" in capsys.readouterr().err and not out.exists()
    assert main([*base, "--trust-engine"]) != 0
    err = capsys.readouterr().err
    assert "tensorrt" in err.lower() and "--trust-engine" not in err and not out.exists()

    plan_dir = tmp_path / "plan"
    assert main(["farm", "plan", str(src), str(plan_dir), "--model", str(engine)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "is a TensorRT engine, which runs only on the GPU model" in err
    assert not (plan_dir / "plan.json").exists()


def test_superres_command_line_refuses_an_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = _engine(tmp_path / "sr.engine", SUPERRES)
    stack, out = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(stack, np.zeros((3, 32, 32), np.uint16), photometric="minisblack")
    assert main(["superres", str(stack), str(out), "--model", str(engine)]) == EXIT_USAGE
    assert "--trust-engine" in capsys.readouterr().err and not out.exists()


def test_cached_engine_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "own.engine"
    own.write_bytes(b"x")
    own.chmod(0o644)
    assert cached_engine_problem(own) is None
    own.chmod(0o664)
    assert cached_engine_problem(own) == "is writable by group or others (mode 664)"
    own.chmod(0o646)
    assert cached_engine_problem(own) == "is writable by group or others (mode 646)"
    own.chmod(0o600)
    link = tmp_path / "link.engine"
    link.symlink_to(own)
    assert cached_engine_problem(link) == "is not a regular file"
    me = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: me + 1)  # as if another user had written the cache file
    assert cached_engine_problem(own) == f"belongs to uid {me}, not to this user (uid {me + 1})"


def test_engines_written_under_a_group_writable_umask_stay_loadable(tmp_path: Path) -> None:
    """Debian-style user accounts run with umask 002: a plain write would leave the cached engine group-writable
    and the rule above would refuse vs-colorize's own engine on reuse. ``build_engine`` writes it 0644."""
    code = (
        "import os, sys\n"
        "os.umask(0o002)\n"
        "from vs_colorize.core.fileio import atomic_output\n"
        "from vs_colorize.trt_engine import cached_engine_problem\n"
        "for name, mode in (('plain.engine', None), ('engine.engine', 0o644)):\n"
        "    with atomic_output(os.path.join(sys.argv[1], name), mode=mode) as tmp:\n"
        "        tmp.write_bytes(b'x')\n"
        "    print(name, oct(os.stat(os.path.join(sys.argv[1], name)).st_mode & 0o777),\n"
        "          cached_engine_problem(os.path.join(sys.argv[1], name)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == [
        "plain.engine 0o664 is writable by group or others (mode 664)",
        "engine.engine 0o644 None",
    ]
