"""``loadbalancer log`` on a month of decisions: the summary, ``--explain`` and ``--plot``, each
as a whole process, its peak RSS and wall time, beside the build before the review streamed.

    .venv/bin/python -m benchmarks.log_summary [--days 30] [--runs 3] [--keep DIR] [--base REF]

Writes (once: kept in ``--keep``, default ``out/bench``) a month-long log
(:mod:`benchmarks.month_log`: a decision every 10 s telegram, about 260 000, and the other
records), and the same log gzip-compressed. Each command runs in its own child process; its
peak RSS is the child's own ``ru_maxrss`` (``os.wait4``, as ``/usr/bin/time -v`` reports it),
its wall and CPU time the best of ``--runs``. The baseline is the code of ``--base`` (default
``main``), exported with ``git archive`` into a temporary folder and run the same way in the
same run (skipped, and said, when git or the ref is not there).

Targets (issue 20): the summary <= 64 MB and <= 5 s, ``--explain`` <= 96 MB, ``--plot``
<= 200 MB.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.month_log import generate

REPO = Path(__file__).resolve().parents[1]
SUMMARY_MB, SUMMARY_S, EXPLAIN_MB, PLOT_MB = 64, 5.0, 96, 200


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    rss_mb: float


def measure(command: list[str], env: dict[str, str], runs: int, cwd: Path) -> Run:
    """Best wall and CPU time of ``runs`` runs, and the highest peak RSS, of the child alone
    (run in ``cwd``: ``python -m`` puts the working directory first on the path)."""
    wall = cpu = float("inf")
    rss = 0.0
    with tempfile.TemporaryFile() as out:
        for _ in range(runs):
            started = time.perf_counter()
            child = subprocess.Popen(
                command, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=cwd
            )
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            wall = min(wall, time.perf_counter() - started)
            if child.returncode != 0:
                raise SystemExit(f"{' '.join(command)}: exit {child.returncode}")
            cpu = min(cpu, usage.ru_utime + usage.ru_stime)
            rss = max(rss, usage.ru_maxrss / 1024)  # KiB on Linux
    return Run(wall, cpu, rss)


def baseline(ref: str, folder: Path) -> Path | None:
    """The package at ``ref``, exported into ``folder``; None when git cannot give it."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", ref, "loadbalancer"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tempfile.TemporaryFile() as tar:
        tar.write(archive)
        tar.seek(0)
        with tarfile.open(fileobj=tar) as unpacked:
            unpacked.extractall(folder, filter="data")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=Path("out/bench"))
    parser.add_argument("--base", default="main", help="git ref of the baseline (default main)")
    args = parser.parse_args()
    args.keep.mkdir(parents=True, exist_ok=True)
    args.keep = args.keep.resolve()
    plain = args.keep / f"decisions-{args.days}d.jsonl"
    if not plain.exists():
        generate(plain, args.days)
    packed = args.keep / f"decisions-{args.days}d.jsonl.1.gz"
    if not packed.exists():
        with plain.open("rb") as src, gzip.open(packed, "wb") as dst:
            shutil.copyfileobj(src, dst)
    at = "2026-01-16T19:30:05+01:00"  # a Friday evening: the sauna, the car cut
    png = args.keep / "month.png"
    commands = {
        "summary (plain)": (["log", str(plain), "--json"], SUMMARY_MB, SUMMARY_S),
        "summary (gzip)": (["log", str(packed), "--json"], SUMMARY_MB, SUMMARY_S),
        "--explain": (["log", str(plain), "--explain", at], EXPLAIN_MB, None),
        "--plot": (["log", str(plain), "--plot", str(png)], PLOT_MB, None),
    }
    with tempfile.TemporaryDirectory() as tmp:
        builds = {"this build": REPO}
        base = baseline(args.base, Path(tmp) / "base")
        if base is not None:
            builds[f"{args.base} (before)"] = base
        print(
            f"{args.days} days, {plain.stat().st_size / 1e6:.0f} MB plain, "
            f"{packed.stat().st_size / 1e6:.0f} MB gzip; best of {args.runs}"
        )
        print(f"{'command':<18} {'build':<16} {'peak MB':>8} {'wall s':>7} {'CPU s':>6}  target")
        for label, (arguments, target_mb, target_s) in commands.items():
            for build, root in builds.items():
                env = {**os.environ, "PYTHONPATH": str(root)}
                command = [sys.executable, "-m", "loadbalancer", *arguments]
                run = measure(command, env, args.runs, Path(tmp))
                target = f"<= {target_mb} MB" + (f", <= {target_s:g} s" if target_s else "")
                met = run.rss_mb <= target_mb and (target_s is None or run.wall_s <= target_s)
                verdict = ("ok" if met else "MISSED") if build == "this build" else ""
                print(
                    f"{label:<18} {build:<16} {run.rss_mb:>8.0f} {run.wall_s:>7.2f} "
                    f"{run.cpu_s:>6.2f}  {target} {verdict}"
                )
        if base is None:
            print(f"(no baseline: git archive {args.base} failed)")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
