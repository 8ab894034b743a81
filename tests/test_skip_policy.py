"""The suite's skip policy (tests/conftest.py): missing shared data skips on a bare clone and fails in CI, and
no test skips on its own terms."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import DATA, REFERENCE, require_shared

TESTS = Path(__file__).resolve().parent


def test_present_folder_is_returned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_shared(tmp_path) == tmp_path


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_missing_folder_skips_naming_it_outside_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    missing = tmp_path / "shared" / "data"
    with pytest.raises(pytest.skip.Exception, match=re.escape(str(missing))):
        require_shared(missing)


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_missing_folder_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    missing = tmp_path / "shared" / "data"
    with pytest.raises(
        pytest.fail.Exception, match=rf"CI=true: .*{re.escape(str(missing))}.*must not pass by skip"
    ):
        require_shared(missing)


def test_shared_data_is_only_reached_through_the_fixtures() -> None:
    """Folders under ../shared come from conftest (data_dir / reference_dir) and skips from its markers only,
    so the CI rule above covers every test that reads shared data."""
    assert DATA.parent == REFERENCE.parents[1]
    offenders = []
    for path in sorted(TESTS.glob("*.py")):
        if path.name in ("conftest.py", Path(__file__).name):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"pytest\.skip\(|importorskip|skipif|\"shared\"|'shared'|\.\./shared", line):
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert offenders == []
