"""Mutation testing of the critical modules with mutmut (``make mutation``; not part of CI).

Each target is run in its own scratch copy of the working tree (mutmut writes ``mutants/`` and ``setup.cfg``
there), mutating only the named functions and running only the test files that exercise them, so the whole run
stays within about 20 minutes on two busy cores. A mutant is *killed* when a test fails with it in place.

    python scripts/mutation.py                 # every target, a table on stdout, JSON in out/mutation/
    python scripts/mutation.py picker parity   # some targets
    python scripts/mutation.py --list

The kill rates are recorded, with the date, in docs/testing.md.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    """What to mutate (``source`` file, mutmut name patterns of its functions) and which tests judge it."""

    name: str
    source: str
    functions: tuple[str, ...]
    tests: tuple[str, ...]


TARGETS: tuple[Target, ...] = (
    Target(
        "luma merge",
        "vs_colorize/filters/colorize.py",
        (
            "vs_colorize.filters.colorize.x__merge_yuv__mutmut_*",
            "vs_colorize.filters.colorize.x__merge_rgb__mutmut_*",
        ),
        ("tests/test_colorize.py", "-k", "not real_generator"),
    ),
    # ParityReport.passed / .max_abs are properties, which mutmut does not mutate; the bugs planted in them by
    # hand (mean instead of max, NaN or Inf passing) are caught by tests/test_parity_gate.py. verify() (155
    # mutants, each re-running an ONNX export) is left out to keep the run short: add
    # "vs_colorize.export.parity.x_verify__mutmut_*" for a full audit (about an hour on two busy cores).
    Target(
        "parity gate",
        "vs_colorize/export/parity.py",
        ("vs_colorize.export.parity.xǁParityReportǁto_json__mutmut_*",),
        ("tests/test_parity_gate.py",),
    ),
    Target(
        "switcher",
        "vs_colorize/training/phases/switcher.py",
        ("vs_colorize.training.phases.switcher.*",),
        ("tests/test_train_switcher.py",),
    ),
    Target(
        "picker",
        "vs_colorize/training/inflection/rule.py",
        (
            "vs_colorize.training.inflection.rule.x_pick_index__mutmut_*",
            "vs_colorize.training.inflection.rule.x__median3__mutmut_*",
        ),
        ("tests/test_inflection_rule.py",),
    ),
    Target("tiling", "vs_colorize/tiling.py", ("vs_colorize.tiling.*",), ("tests/test_tiling.py",)),
    # every output goes through atomic_output: never a half-written file under the final name, never a user's
    # file replaced without overwrite, never someone else's part removed
    Target(
        "atomic writes",
        "vs_colorize/core/fileio.py",
        ("vs_colorize.core.fileio.*",),
        ("tests/test_fileio_parts.py", "tests/test_output_safety.py", "tests/test_engine_trust.py"),
    ),
    Target(
        "farm concat checks",
        "vs_colorize/farm/concat.py",
        ("vs_colorize.farm.concat.*",),
        # the tests that run a whole join ("join", "muxed") as well as the refusals: selecting on "concat" alone
        # left every helper of concat() to no test (no other test name contains "concat")
        ("tests/test_farm.py", "-k", "refuses or join or muxed or sync"),
    ),
)


def _copy_tree(dest: Path) -> None:
    """The files git knows of (tracked, and untracked but not ignored) that the tests need, as they are in the
    working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_symlink():  # vs_colorize/training -> ../training: copied as a real folder, so that mutmut
            # mutates it under the import name the tests use (vs_colorize.training...)
            shutil.copytree(src.resolve(), dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file() and rel.split("/")[0] in (
            "vs_colorize",
            "tests",
            "scripts",  # scripts/samples holds the film some tests read (copied into mutants/: also_copy)
            "pyproject.toml",
        ):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _config(target: Target) -> str:
    package = target.source.split("/")[0]
    lines = ["[mutmut]", "source_paths =", f"    {package}", "only_mutate =", f"    {target.source}"]
    lines += ["pytest_add_cli_args_test_selection =", *(f"    {a}" for a in target.tests)]
    lines += ["also_copy =", "    scripts/samples"]  # the film some tests read (tests/conftest.py)
    lines += ["pytest_add_cli_args =", "    -p", "    no:cacheprovider", "    -x"]
    # mutmut limits each mutant's CPU time from the tests' own durations, which leave out module fixtures (an
    # ONNX export, say): allow a minute more so a slow fixture is not reported as a timeout
    lines += ["timeout_constant = 60"]
    # fork from a server that has only collected the tests: a fork of the process that ran them (VapourSynth,
    # ONNX Runtime and torch thread pools alive) can deadlock
    lines += ["process_isolation = forkserver"]
    return "\n".join(lines) + "\n"


def _mutmut(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    mutmut = Path(sys.executable).with_name("mutmut")
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(mutmut), *args], cwd=work, env=env, capture_output=True, text=True)


def run_target(target: Target, children: int) -> dict[str, object]:
    """Run one target; returns its counts per mutmut status and the surviving mutants' names."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vs-colorize-mutation-") as tmp:
        work = Path(tmp)
        _copy_tree(work)
        (work / "setup.cfg").write_text(_config(target))
        proc = _mutmut(work, "run", "--max-children", str(children), *target.functions)
        if proc.returncode != 0:
            raise RuntimeError(
                f"mutmut run failed for {target.name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        results = _mutmut(work, "results", "--all", "true").stdout
        statuses: dict[str, str] = {}
        for line in results.splitlines():
            name, sep, status = line.strip().rpartition(": ")
            if sep and any(fnmatch.fnmatch(name, pattern) for pattern in target.functions):
                statuses[name] = status
        survivors = {n: _mutmut(work, "show", n).stdout for n, s in sorted(statuses.items()) if s != "killed"}
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    total = len(statuses)
    killed = counts.get("killed", 0)
    return {
        "target": target.name,
        "source": target.source,
        "tests": " ".join(target.tests),
        "mutants": total,
        "killed": killed,
        "kill_rate": killed / total if total else None,
        "counts": counts,
        "survivors": survivors,  # name -> the mutant's diff
        "seconds": round(time.monotonic() - started),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="target names (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--children", type=int, default=2, help="mutants tested in parallel (default 2)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "out" / "mutation", help="folder for the JSON report"
    )
    args = parser.parse_args(argv)
    by_name = {t.name.replace(" ", "-"): t for t in TARGETS}
    if args.list:
        for key, t in by_name.items():
            sys.stdout.write(f"{key:12} {t.source}  ({' '.join(t.tests)})\n")
        return 0
    unknown = [n for n in args.targets if n not in by_name]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    if shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
        parser.error("mutmut is not installed in this environment: pip install 'vs-colorize[mutation]'")
    chosen = [by_name[n] for n in args.targets] if args.targets else list(TARGETS)
    report = []
    for target in chosen:
        print(f"mutation: {target.name} ({target.source}) ...", file=sys.stderr, flush=True)
        report.append(run_target(target, args.children))
        r = report[-1]
        print(
            f"mutation: {target.name}: {r['killed']}/{r['mutants']} killed in {r['seconds']} s",
            file=sys.stderr,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    (args.out / f"mutation-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write("| target | source | mutants | killed | kill rate | time |\n|---|---|---|---|---|---|\n")
    for r in report:
        kill_rate = r["kill_rate"]
        rate = f"{100 * kill_rate:.0f} %" if isinstance(kill_rate, float) else "–"
        sys.stdout.write(
            f"| {r['target']} | `{r['source']}` | {r['mutants']} | {r['killed']} | {rate} | {r['seconds']} s |\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
