"""``loadbalancer check`` on mutated sites (issue 12 item 14): whatever one edit does to the
example site or to the charger profile it uses (a type, a range, a key added or removed), the
command exits 0, or exits 2 with one line naming the file and the key. Never a traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbalancer.cli import main

REPO = Path(__file__).resolve().parents[1]
SITE: dict[str, Any] = yaml.safe_load((REPO / "examples" / "site.yaml").read_text())
PROFILE: dict[str, Any] = yaml.safe_load(
    (REPO / "profiles" / "chargers" / "alfen-eve.yaml").read_text()
)
#: FILE: KEY.PATH[0].KEY: problem
_KEY_PATH = r"[A-Za-z_][\w-]*(\[\d+\])*(\.[\w-]+(\[\d+\])*)*"

Path_ = tuple[str | int, ...]


def node_paths(tree: object, prefix: Path_ = ()) -> list[Path_]:
    """Every place in a YAML tree below its root."""
    found: list[Path_] = []
    children: list[tuple[str | int, object]] = []
    if isinstance(tree, dict):
        children = list(tree.items())
    elif isinstance(tree, list):
        children = list(enumerate(tree))
    for key, child in children:
        found.append((*prefix, key))
        found += node_paths(child, (*prefix, key))
    return found


SITE_PATHS = node_paths(SITE)
PROFILE_PATHS = node_paths(PROFILE)

#: values that broke the loader once, or look like what a key wants but are not
ODD_VALUES: list[object] = [float("nan"), float("inf"), -1, 0, 6.5, 6.05, 1e300, 10**30]
ODD_VALUES += ["1:30", "L4", "\x1b[2J", "9" * 40, "vestel-evc99", "3x99A-gG", "-", "float32"]
ODD_VALUES += ["gG", "zero", "holding"]

VALUES = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(),
    st.floats(),  # NaN and the infinities included
    st.floats(min_value=-100, max_value=100),
    st.text(max_size=10),
    st.sampled_from(ODD_VALUES),
    st.lists(st.integers(min_value=-3, max_value=40), max_size=3),
    st.dictionaries(st.sampled_from(["a", "name", "address"]), st.integers(), max_size=2),
)


#: keys an ``add`` may write: optional ones the example leaves out, and one nobody knows
ADDED_KEYS = ["min_current_a", "key", "response_time_s", "failsafe_timeout_s", "surplus_key"]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, Path_, str, object]:
    """(which file, where, how, value): ``set`` a value, ``drop`` a key, ``add`` a key (named
    in ``how``: ``add:KEY``) to the mapping at ``where``."""
    target = draw(st.sampled_from(["site", "profile"]))
    place = draw(st.sampled_from(SITE_PATHS if target == "site" else PROFILE_PATHS))
    how = draw(st.sampled_from(["set", "set", "set", "drop", "add"]))
    if how == "add":
        how = f"add:{draw(st.sampled_from(ADDED_KEYS))}"
    return target, place, how, draw(VALUES)


def mutate(tree: Any, place: Path_, how: str, value: object) -> None:
    parent = tree
    for step in place[:-1]:
        parent = parent[step]
    last = place[-1]
    if how == "set":
        parent[last] = value
    elif how == "drop":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][how.removeprefix("add:")] = value
    else:
        parent[last] = {how.removeprefix("add:"): value}


def check(
    folder: Path, site: dict[str, Any], profile: dict[str, Any] | None
) -> tuple[int, str, str]:
    """``loadbalancer check`` in this process; ``profile`` None: box.yaml is there already."""
    if profile is not None:
        (folder / "box.yaml").write_text(yaml.dump(profile, Dumper=_Dumper), encoding="utf-8")
    path = folder / "site.yaml"
    path.write_text(yaml.dump(site, Dumper=_Dumper), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    # relative paths (a mutated log.decisions) land in the scratch folder
    with contextlib.chdir(folder), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", "--config", str(path)])
    return code, out.getvalue(), err.getvalue()


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def base_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    site, profile = copy.deepcopy(SITE), copy.deepcopy(PROFILE)
    site["chargers"][0]["profile"] = "box.yaml"
    site["log"]["decisions"] = "decisions.jsonl"
    return site, profile


def assert_valid_or_one_line(
    site: dict[str, Any], profile: dict[str, Any] | None, folder: Path | None = None
) -> None:
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory())).resolve()
        code, out, err = check(folder, site, profile)
    if code == 0:
        assert out.startswith(f"{folder / 'site.yaml'}: valid") and err == ""
        return
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    files = "|".join(re.escape(str(folder / name)) for name in ("site.yaml", "box.yaml"))
    assert re.match(rf"loadbalancer check: ({files}): {_KEY_PATH}: \S", line), line


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_one_edit_anywhere_is_valid_or_one_line_naming_file_and_key(
    mutation: tuple[str, Path_, str, object],
) -> None:
    target, place, how, value = mutation
    site, profile = base_pair()
    mutate(site if target == "site" else profile, place, how, value)
    assert_valid_or_one_line(site, profile)


#: the odd values the sweep puts everywhere
SWEEP_VALUES: list[object] = [float("nan"), float("inf"), -1, 6.5, 10**30, "1:30", "\x1b[2J", None]


def test_every_odd_value_at_every_site_setting(tmp_path: Path) -> None:
    """The sweep behind the random edits: each odd value at each setting of the site, and as
    each optional charger setting the example leaves out (``min_current_a`` off the box's
    step was a traceback)."""
    leaves = [p for p in SITE_PATHS if p not in {q[: len(p)] for q in SITE_PATHS if q != p}]
    places: list[tuple[Path_, str]] = [(place, "set") for place in leaves]
    places += [(("chargers", 0), "add:min_current_a"), (("meter",), "add:key")]
    folder = tmp_path.resolve()
    site, profile = base_pair()
    check(folder, site, profile)  # box.yaml, once
    for place, how in places:
        for value in SWEEP_VALUES:
            site, _profile = base_pair()
            mutate(site, place, how, value)
            assert_valid_or_one_line(site, None, folder)


def test_the_unmutated_pair_is_valid() -> None:
    """The baseline the mutations start from passes, so each failure is the edit's."""
    site, profile = base_pair()
    with tempfile.TemporaryDirectory() as scratch:
        code, out, err = check(Path(scratch).resolve(), site, profile)
    assert (code, err) == (0, "")
    assert "charger carport: alfen-eve" in out
