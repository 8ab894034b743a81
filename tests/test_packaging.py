"""The installed names (DESIGN.md §1): the wheel owns one top-level import name, ``vs_colorize``.

The repository's ``training/`` and ``export/`` folders install as ``vs_colorize.training`` and
``vs_colorize.export`` (setup.py), so PyPI's unrelated ``export`` package can be installed beside ours,
and removed again, without touching our files, and a ``training/`` folder in the user's working directory
cannot shadow our code. Built and installed for real: ``uv build`` and a clean venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))

pytestmark = pytest.mark.slow


def _uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([UV, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"uv {' '.join(args)} failed:\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _uv("build", "--wheel", "--quiet", "--out-dir", str(out))
    (found,) = out.glob("vs_colorize-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[Path]:
    """A clean venv holding PyPI's ``export`` and our wheel (no dependencies: only names are under test)."""
    root = tmp_path_factory.mktemp("venv") / "env"
    _uv("venv", "--quiet", "-p", sys.executable, str(root))
    py = root / "bin" / "python"
    _uv("pip", "install", "--quiet", "-p", str(py), "export==0.2.1")
    _uv("pip", "install", "--quiet", "--no-deps", "-p", str(py), str(wheel))
    yield root


def _python(venv: Path, code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_wheel_has_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"vs_colorize"}
    assert "vs_colorize/training/archs/unet.py" in names
    assert "vs_colorize/export/cli.py" in names
    assert "vs_colorize/assets/demo-fp32.onnx" in names


def test_pypi_export_beside_ours(venv: Path, tmp_path: Path) -> None:
    site = _python(venv, "import sysconfig; print(sysconfig.get_path('purelib'))", tmp_path)
    theirs = _python(venv, "import export; print(export.__file__)", tmp_path)
    ours = _python(venv, "import vs_colorize.export.cli as c; print(c.__file__)", tmp_path)
    assert theirs == str(Path(site) / "export" / "__init__.py")
    assert ours == str(Path(site) / "vs_colorize" / "export" / "cli.py")

    _uv("pip", "uninstall", "--quiet", "-p", str(venv / "bin" / "python"), "export")
    assert (Path(site) / "vs_colorize" / "export" / "__init__.py").is_file()  # ours untouched
    assert _python(
        venv, "import vs_colorize.export.errors as e; print(e.ExportError.__name__)", tmp_path
    ) == ("ExportError")


def test_a_training_folder_in_the_working_directory_does_not_shadow_ours(venv: Path, tmp_path: Path) -> None:
    for name in ("training", "export"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise RuntimeError('the user folder was imported')\n")
    code = (
        "import importlib.util as u;"
        "print(u.find_spec('vs_colorize.training.archs').origin);"
        "print(u.find_spec('vs_colorize.export.onnx').origin)"
    )
    origins = _python(venv, code, tmp_path).splitlines()
    assert all("site-packages" in o and str(tmp_path) not in o for o in origins), origins
