"""A plain ``pip install .`` must carry every package, every bundled data file and the console
script, and build without setuptools warnings (issue 12 items 13 and 16)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Built:
    wheel: Path
    log: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("wheel")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    proc = subprocess.run(
        [*pip_wheel, "--wheel-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
        cwd=out,
    )
    (wheel,) = out.glob("loadbalancer-*.whl")
    return Built(wheel, proc.stdout + proc.stderr)


def test_wheel_carries_profiles_examples_and_the_console_script(built: Built) -> None:
    names = set(zipfile.ZipFile(built.wheel).namelist())
    for folder in ("profiles/fuses", "profiles/chargers", "profiles/tariffs"):
        shipped = {p.name for p in (REPO / folder).glob("*.yaml")}
        inside = {Path(n).name for n in names if n.startswith(f"loadbalancer/{folder}/")}
        assert shipped <= inside, folder
    for capture in (REPO / "examples" / "captures").iterdir():
        assert f"loadbalancer/examples/captures/{capture.name}" in names
    for scenario in (REPO / "examples" / "scenarios").glob("*.yaml"):
        assert f"loadbalancer/examples/scenarios/{scenario.name}" in names
    assert "loadbalancer/py.typed" in names
    assert "loadbalancer/http/page.html" in names  # the live page (issue 16)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(built.wheel).read(entry_points).decode()
    assert "loadbalancer = loadbalancer.cli:main" in text


def test_wheel_carries_every_package_of_the_source_tree(built: Built) -> None:
    """Found, not listed: a new subpackage (loadbalancer.sim was missed) ships by itself."""
    names = set(zipfile.ZipFile(built.wheel).namelist())
    for init in (REPO / "loadbalancer").rglob("__init__.py"):
        assert init.relative_to(REPO).as_posix() in names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def test_the_build_prints_no_setuptools_warning(built: Built) -> None:
    # pip's own notes about this machine's index configuration are not ours
    ours = [line for line in built.log.splitlines() if "Location '" not in line]
    assert not [line for line in ours if "warning" in line.lower()], "\n".join(ours)


Runner = Callable[..., subprocess.CompletedProcess[str]]


def fresh_install(built: Built, tmp_path: Path) -> tuple[Runner, Path, Path]:
    """The wheel alone in a new environment (no checkout on the path; the dependencies
    borrowed from this one through a .pth line): a runner of its ``loadbalancer`` command in
    an empty working folder, that folder, and the installed package's folder."""
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    pip_install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    subprocess.run(
        [*pip_install, "--no-index", "--no-deps", str(built.wheel)],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(env_dir / "bin" / "loadbalancer"), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=work,
            env=env,
        )

    where = subprocess.run(
        [python, "-c", "import loadbalancer.sim, loadbalancer; print(loadbalancer.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    ).stdout
    assert where.startswith(purelib), where  # the installed copy, not the checkout
    return run, work, Path(where.strip()).parent


@pytest.mark.slow
def test_the_wheel_in_a_fresh_environment_runs_every_command(built: Built, tmp_path: Path) -> None:
    """Installed from the wheel alone into a new environment, every subcommand runs."""
    run, work, package = fresh_install(built, tmp_path)
    assert run("--version").returncode == 0
    for command in ("meter", "charger", "run", "check", "simulate", "log"):
        proc = run(command, "--help")
        assert proc.returncode == 0 and "usage:" in proc.stdout, (command, proc.stderr)

    example = package / "examples" / "site.yaml"
    proc = run("check", "--config", str(example))
    assert proc.returncode == 0 and proc.stdout.startswith(f"{example}: valid"), proc.stderr

    capture = package / "examples" / "captures" / "se_evening.p1"
    proc = run("meter", "--source", f"file://{capture}")
    assert proc.returncode == 0 and "88 readings" in proc.stdout, proc.stderr

    scenario = work / "short.yaml"
    scenario.write_text(
        "name: short\ndescription: two minutes, one car\nduration_s: 120\n"
        "house: {base_a: [2.0, 1.5, 2.5]}\ncars: {carport: {phases: 3, max_current_a: 16}}\n"
    )
    proc = run("simulate", "--scenario", str(scenario), "--log", "sim.jsonl")
    assert proc.returncode == 0, proc.stderr
    proc = run("log", "sim.jsonl")
    assert proc.returncode == 0 and "charger carport" in proc.stdout, proc.stderr

    # nothing listens on port 1 of loopback: the probe runs and fails the way it should
    proc = run("charger", "--profile", "alfen-eve", "--host", "127.0.0.1", "--port", "1")
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    # run: the whole service imports; a site it cannot use stops it with one line
    proc = run("run", "--config", str(work / "absent.yaml"))
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_the_install_steps_keep_the_site_file_from_other_users() -> None:
    """The site file may hold the meter's key: the README installs it 0640 with the service's
    group (it was 0644, world-readable), and checks it as the service's user."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    installs = [
        line.split()
        for line in readme.splitlines()
        if line.startswith("sudo install ") and line.rstrip().endswith("site.yaml")
    ]
    assert installs
    for words in installs:
        mode = words[words.index("-m") + 1]
        assert int(mode, 8) & 0o007 == 0, words  # nothing for others
        assert words[words.index("-g") + 1] == "loadbalancer", words
    checks = [line for line in readme.splitlines() if " check --config /etc/" in line]
    assert checks and all(line.startswith("sudo -u loadbalancer ") for line in checks)
