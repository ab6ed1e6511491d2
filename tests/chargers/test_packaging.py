"""A plain wheel carries all bundled charger profiles, found by name after ``pip install .``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.chargers.test_profile import EXPECTED

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_every_charger_profile(tmp_path: Path) -> None:
    source = tmp_path / "src"  # build from a copy: setuptools writes build/ next to the sources
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
        ),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("loadbalancer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    bundled = {
        Path(name).stem for name in names if name.startswith("loadbalancer/profiles/chargers/")
    }
    assert bundled >= EXPECTED
    assert {f"{name}.yaml" for name in EXPECTED} <= {Path(name).name for name in names}
