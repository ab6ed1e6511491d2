"""Each control default is written once, in :class:`ControlConfig`; the site loader uses it.

(The issue read 60 s / 300 s for the loader against 30 s / 120 s in the core: those were the
settings of test fixtures. Both defaults were 30 s / 20 s, each written in its own place.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loadbalancer.config import load_site
from loadbalancer.control.config import ControlConfig, control_default
from loadbalancer.fuse_profiles import load_fuse_profile

#: a site file that sets no control timing at all
BARE_SITE = {
    "meter": {"source": "tcp://127.0.0.1:2000", "protocol": "p1"},
    "fuse": "3x20A-gG",
    "chargers": [
        {
            "name": "carport",
            "profile": "alfen-eve",
            "host": "127.0.0.1",
            "phases": ["L1"],
            "max_current_a": 16,
        }
    ],
}

#: the ControlConfig fields the loader has a default for
LOADER_DEFAULTS = (
    "safe_current_a",
    "ramp_up_delay_s",
    "resume_delay_s",
    "resume_delay_max_s",
    "stale_after_s",
    "ev_response_allowance_s",
    "charger_stale_after_s",
    "min_share_hold_s",
)


def bare_site(tmp_path: Path) -> ControlConfig:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(BARE_SITE))
    return load_site(path).control


def test_a_site_without_timings_gets_the_defaults_of_the_core(tmp_path: Path) -> None:
    loaded = bare_site(tmp_path)
    core = ControlConfig(load_fuse_profile("3x20A-gG"), loaded.chargers)
    for name in LOADER_DEFAULTS:
        assert getattr(loaded, name) == getattr(core, name) == control_default(name), name


def test_the_loader_reads_each_default_from_the_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Change a default in its one place and the loader follows."""
    import loadbalancer.control.config as control_config

    changed = {"ramp_up_delay_s": 45.0, "resume_delay_s": 25.0, "resume_delay_max_s": 90.0}
    for name, value in changed.items():
        monkeypatch.setitem(control_config._DEFAULTS, name, value)
    loaded = bare_site(tmp_path)
    assert {name: getattr(loaded, name) for name in changed} == changed


def test_a_field_without_a_default_has_none_to_give() -> None:
    with pytest.raises(KeyError):
        control_default("fuse")
