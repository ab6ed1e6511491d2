"""Hostile site files (issue 12): each attack makes ``check`` or ``run`` exit 2 with one line,
no traceback, no hang, in bounded memory.

Every attack runs in a child process whose address space is capped (``RLIMIT_AS``), so a
blow-up fails the test instead of the machine; the child reports its peak RSS (VmHWM), which
must stay under 100 MB. Time is not asserted (the size, depth and expansion caps bound it): the
child reports it in ``Outcome.elapsed_s`` for a measurement by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadbalancer.yamlcheck import MAX_FILE_BYTES

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = (REPO / "examples" / "site.yaml").read_text(encoding="utf-8")
#: the child's address space: enough for Python and every import, far from a bomb's gigabytes
ADDRESS_SPACE_BYTES = 600 * 1024 * 1024
MAX_RSS_KB = 100 * 1024

_CHILD = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
start = time.perf_counter()
from loadbalancer.cli import main
try:
    code = main(sys.argv[2:])
finally:
    # the peak RSS of this program (getrusage's ru_maxrss would count the forked pytest too)
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(sys.argv[1], "w") as out:
        json.dump({{"rss_kb": peak, "elapsed_s": time.perf_counter() - start}}, out)
sys.exit(code)
"""


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    rss_kb: int
    elapsed_s: float


def attack(tmp_path: Path, command: str, site_text: str | bytes | Path) -> Outcome:
    """Run ``loadbalancer COMMAND --config SITE`` in a capped child; ``site_text`` is the
    site's content, or a path when the attack is the file itself."""
    if isinstance(site_text, Path):
        site = site_text
    else:
        site = tmp_path / "site.yaml"
        site.write_bytes(site_text if isinstance(site_text, bytes) else site_text.encode())
    stats = tmp_path / "stats.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD.format(limit=ADDRESS_SPACE_BYTES),
            str(stats),
            command,
            "--config",
            str(site),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    figures = json.loads(stats.read_text())
    return Outcome(
        proc.returncode, proc.stdout, proc.stderr, figures["rss_kb"], figures["elapsed_s"]
    )


def with_line(old: str, new: str) -> str:
    """The example site with one line (``old``, the part before any comment) replaced."""
    lines = EXAMPLE.splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.split("#")[0].strip() == old]
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index] = indent + new
    return "\n".join(lines) + "\n"


def logged_to(path: str, text: str = EXAMPLE) -> str:
    return text.replace("/var/log/loadbalancer/decisions.jsonl", path)


SECRET = "hunter2-secret-first-line"


def _passwd_like(tmp: Path) -> Path:
    path = tmp / "passwd"
    path.write_text(f"{SECRET}:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/:/sbin/nologin\n")
    return path


def _fifo(tmp: Path) -> Path:
    path = tmp / "profile.yaml"
    os.mkfifo(path)
    return path


def _big(tmp: Path) -> Path:
    path = tmp / "big.yaml"
    path.write_bytes(EXAMPLE.encode() + b"# padding\n" * (5 * 1024 * 1024))  # 50 MB of YAML
    return path


#: name -> (command, the site's text (or the site file) made in a scratch folder, what the one
#: line must contain)
Attack = tuple[str, Callable[[Path], str | bytes | Path], str]

ATTACKS: dict[str, Attack] = {
    "nan stale_after_s": (
        "run",
        lambda _t: with_line("stale_after_s: 25", "stale_after_s: .nan"),
        "meter.stale_after_s: expected a finite number",
    ),
    "nan stale_after_s (check)": (
        "check",
        lambda _t: with_line("stale_after_s: 25", "stale_after_s: .nan"),
        "meter.stale_after_s: expected a finite number",
    ),
    "nan safe_current_a": (
        "run",
        lambda _t: with_line("safe_current_a: 6", "safe_current_a: .nan"),
        "control.safe_current_a: expected a finite number",
    ),
    "nan safe_current_a (check)": (
        "check",
        lambda _t: with_line("safe_current_a: 6", "safe_current_a: .nan"),
        "control.safe_current_a: expected a finite number",
    ),
    "inf max_current_a": (
        "check",
        lambda _t: with_line("max_current_a: 16", "max_current_a: .inf"),
        "chargers[0].max_current_a: expected a finite number",
    ),
    "nan max_current_a": (
        "check",
        lambda _t: with_line("max_current_a: 16", "max_current_a: .NaN"),
        "chargers[0].max_current_a: expected a finite number",
    ),
    "huge integer": (
        "check",
        lambda _t: with_line("resume_delay_s: 20", "resume_delay_s: " + "9" * 5000),
        "control.resume_delay_s: expected a number",
    ),
    "base-60 number": (
        "check",
        lambda _t: with_line("ramp_up_delay_s: 10", "ramp_up_delay_s: 1:30"),
        "control.ramp_up_delay_s: expected a number, got '1:30' (a base-60 number",
    ),
    "duplicate key": (
        "check",
        lambda _t: EXAMPLE + "fuse: 3x35A-gG\n",
        "duplicate key 'fuse' (first on line",
    ),
    "alias bomb": (
        "check",
        lambda _t: (
            "bomb:\n"
            + "  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            + "".join(
                f"  {b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n"
                for a, b in zip("abcdefgh", "bcdefghi", strict=True)
            )
            + EXAMPLE.replace("protocol: auto", "protocol: *i", 1)
        ),
        "aliases expand to more than",
    ),
    "nesting 5000 deep": (
        "check",
        lambda _t: with_line("protocol: auto", "protocol: " + "[" * 5000 + "]" * 5000),
        "nested more than",
    ),
    "32 KB of the slowest YAML": (
        "check",
        lambda _t: EXAMPLE + "x: [" + "1," * ((MAX_FILE_BYTES - len(EXAMPLE)) // 2 - 8) + "1]\n",
        ": x: unknown key",
    ),
    "not UTF-8": (
        "check",
        lambda _t: EXAMPLE.encode().replace(b"carport", b"carp\xf6rt"),
        "not UTF-8 text",
    ),
    "50 MB site file": ("check", _big, "larger than 32 KB"),
    "fuse profile /dev/zero": (
        "check",
        lambda _t: with_line("fuse: 3x20A-gG", "fuse: /dev/zero"),
        "/dev/zero: not a regular file",
    ),
    "charger profile /dev/zero": (
        "check",
        lambda _t: with_line("profile: alfen-eve", "profile: /dev/zero"),
        "/dev/zero: not a regular file",
    ),
    "charger profile is a FIFO": (
        "check",
        lambda t: with_line("profile: alfen-eve", f"profile: {_fifo(t)}"),
        "not a regular file",
    ),
    "charger profile is a big file": (
        "check",
        lambda t: with_line("profile: alfen-eve", f"profile: {_big(t)}"),
        "larger than",
    ),
    "charger profile is a passwd file": (
        "check",
        lambda t: with_line("profile: alfen-eve", f"profile: {_passwd_like(t)}"),
        "expected a mapping, got text",
    ),
    "fuse profile is a passwd file": (
        "check",
        lambda t: with_line("fuse: 3x20A-gG", f"fuse: {_passwd_like(t)}"),
        "not a fuse profile",
    ),
    "decision log is /etc/passwd": (
        "check",
        lambda t: logged_to(str(_passwd_like(t))),
        "log.decisions: ",
    ),
    "decision log on a read-only place": (
        "run",
        lambda _t: logged_to("/sys/loadbalancer-decisions.jsonl"),
        "log.decisions: /sys/loadbalancer-decisions.jsonl: cannot write there",
    ),
    "control character in a charger name": (
        "check",
        lambda _t: with_line("- name: carport", '- name: "car\\e[2Jport"'),
        "chargers[0].name: 'car\\x1b[2Jport' holds a control character",
    ),
    "min_current_a off the box's step": (
        "check",
        lambda _t: with_line("profile: alfen-eve", "profile: vestel-evc04").replace(
            "max_current_a: 16", "max_current_a: 16\n    min_current_a: 6.5"
        ),
        "chargers[0].min_current_a: 6.5 A is not a multiple of the vestel-evc04 profile's step",
    ),
    "unknown profile name": (
        "check",
        lambda _t: with_line("profile: alfen-eve", "profile: vestel-evc99"),
        "chargers[0].profile: 'vestel-evc99' is neither a bundled charger profile nor a file "
        "(did you mean 'vestel-evc04'?",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_each_site_file_attack_exits_2_with_one_line_in_bounded_memory(
    tmp_path: Path, name: str
) -> None:
    command, make, expected = ATTACKS[name]
    outcome = attack(tmp_path, command, make(tmp_path))
    assert outcome.returncode == 2, outcome.stderr
    assert "Traceback" not in outcome.stderr
    (line,) = outcome.stderr.splitlines()
    assert line.startswith(f"loadbalancer {command}: ")
    assert expected in line
    assert outcome.rss_kb < MAX_RSS_KB
    assert "\x1b" not in line and SECRET not in line
    assert outcome.stdout == ""


def test_the_example_site_is_fine_in_the_same_harness(tmp_path: Path) -> None:
    """The harness itself lets a good site through: the attacks fail for their own reason."""
    outcome = attack(tmp_path, "check", logged_to(str(tmp_path / "decisions.jsonl")))
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout.startswith(f"{tmp_path / 'site.yaml'}: valid")
    assert outcome.rss_kb < MAX_RSS_KB
