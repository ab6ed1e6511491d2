"""A plain ``pip install .`` must carry every bundled data file and the console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_carries_profiles_examples_and_the_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("loadbalancer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("profiles/fuses", "profiles/chargers"):
        shipped = {p.name for p in (REPO / folder).glob("*.yaml")}
        inside = {Path(n).name for n in names if n.startswith(f"loadbalancer/{folder}/")}
        assert shipped <= inside, folder
    for capture in (REPO / "examples" / "captures").iterdir():
        assert f"loadbalancer/examples/captures/{capture.name}" in names
    assert "loadbalancer/py.typed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "loadbalancer = loadbalancer.cli:main" in text
