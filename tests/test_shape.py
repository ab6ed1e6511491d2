"""The package stays small enough to read (issue 14): each rule in a module named for it.

No module over 500 lines, no function over 60 (def line to last line) anywhere in the
package, ruff's McCabe complexity at most 15 (also in ``make lint``), and each fact of the
grid (phase names, the 6 A minimum, the in-use threshold) taken from
:mod:`loadbalancer.electric`, never written again in the control package.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import loadbalancer.control
import loadbalancer.electric

CONTROL_DIR = Path(loadbalancer.control.__file__).parent
PACKAGE_DIR = CONTROL_DIR.parent
MODULES = sorted(PACKAGE_DIR.rglob("*.py"))
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_COMPLEXITY = 15


def long_functions(source: str, limit: int) -> list[str]:
    """``name: lines`` of every function (methods and nested ones too) longer than ``limit``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                found.append(f"{node.name}: {lines}")
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_no_module_over_500_lines_and_no_function_over_60(module: Path) -> None:
    source = module.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    assert long_functions(source, MAX_FUNCTION_LINES) == []


def test_the_length_check_sees_a_long_function() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    assert long_functions(f"def f():\n{body}", MAX_FUNCTION_LINES) == ["f: 61"]
    assert long_functions(f"def f():\n{body}", 61) == []


def ruff_complexity(path: Path) -> subprocess.CompletedProcess[str]:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    return subprocess.run(
        [
            ruff, "check", "--no-cache", "--select", "C901",
            "--config", f"lint.mccabe.max-complexity={MAX_COMPLEXITY}", str(path),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_no_function_over_mccabe_15() -> None:
    done = ruff_complexity(PACKAGE_DIR)
    assert done.returncode == 0, done.stdout


def test_the_complexity_check_sees_a_complex_function(tmp_path: Path) -> None:
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(MAX_COMPLEXITY))
    (tmp_path / "complex.py").write_text(f"def f(x):\n{branches}    return -1\n")
    done = ruff_complexity(tmp_path)
    assert done.returncode == 1 and "C901" in done.stdout


#: the facts of :mod:`loadbalancer.electric`: name -> value
FACTS = {
    name: value
    for name, value in vars(loadbalancer.electric).items()
    if name.isupper() and isinstance(value, float | tuple)
}


def words(name: str) -> set[str]:
    """The words of a constant's name, without its unit suffix (A, V, S)."""
    return {word for word in name.split("_") if len(word) > 1} - {"A", "V", "S"}


def restated_facts(source: str) -> list[str]:
    """Module-level constants that write a fact of ``electric`` again: the same value under a
    name that shares a word with the fact's (``GRID_PHASES``, ``ACTIVE_PHASE_A``), or the
    phase names as a literal."""
    found = []
    for node in ast.parse(source).body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if not isinstance(target, ast.Name) or value is None:
            continue
        try:
            literal = ast.literal_eval(value)
        except ValueError:
            continue
        for fact, fact_value in FACTS.items():
            if literal == fact_value and (words(target.id) & words(fact) or fact == "PHASES"):
                found.append(f"{target.id} restates {fact}")
    return found


@pytest.mark.parametrize(
    "module",
    [m for m in MODULES if m.name != "electric.py"],
    ids=lambda p: str(p.relative_to(PACKAGE_DIR)),
)
def test_the_grid_facts_come_from_electric(module: Path) -> None:
    assert restated_facts(module.read_text(encoding="utf-8")) == []


def test_the_facts_check_sees_a_restated_fact() -> None:
    assert restated_facts('GRID_PHASES: tuple[str, str, str] = ("L1", "L2", "L3")\n') == [
        "GRID_PHASES restates PHASES"
    ]
    assert restated_facts("ACTIVE_PHASE_A = 1.0\nIEC_MIN_CURRENT_A = 6.0\n") == [
        "ACTIVE_PHASE_A restates PHASE_IN_USE_A",
        "IEC_MIN_CURRENT_A restates IEC_MIN_CURRENT_A",
    ]
    # the same value for another concept is not a restatement
    assert restated_facts("DEFAULT_MARGIN_A = 1.0\nTOLERANCE_A = 1.0\n") == []
