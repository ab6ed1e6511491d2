"""The site a decision log ran, rebuilt from its ``startup`` record for ``simulate --replay``.

The record names the fuse, each charger (profile, phases, minimum, maximum, priority) and the
control settings; since this version also the telegram period, the poll interval, the longest
resume delay and the failsafe timeout. The mapping built from it goes through the same site
loader as a site file, so the replay runs the core with the settings the service had. A log
written before those fields takes the loader's defaults for them (said in the output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadbalancer.config import SiteConfig, site_from_data
from loadbalancer.errors import ConfigError, UsageError
from loadbalancer.review.facts import as_dict, as_list, num
from loadbalancer.review.lines import Record
from loadbalancer.yamlcheck import read_yaml_file

#: the startup record's control settings that became part of it for the replay
LATER_FIELDS = ("resume_delay_max_s", "telegram_period_s", "poll_interval_s", "failsafe_timeout_s")


def logged_site(startup: Record | None) -> tuple[SiteConfig, list[str]]:
    """The logged site and what the record did not say (taken from the defaults)."""
    if startup is None:
        raise UsageError("the log has no startup record: the site it ran is unknown")
    control = as_dict(startup.get("control"))
    missing = [key for key in LATER_FIELDS if num(control.get(key)) is None]
    chargers = []
    for charger in as_list(startup.get("chargers")):
        if not isinstance(charger, dict):
            continue
        entry = {k: charger[k] for k in ("name", "profile", "phases", "priority") if k in charger}
        for key in ("max_current_a", "min_current_a"):
            if num(charger.get(key)) is not None:
                entry[key] = charger[key]
        chargers.append({**entry, "host": "127.0.0.1"})
    meter: dict[str, Any] = {"source": "tcp://127.0.0.1:1"}
    for key in ("telegram_period_s", "stale_after_s"):
        if num(control.get(key)) is not None:
            meter[key] = control[key]
    settings = (
        "safe_current_a",
        "ramp_up_delay_s",
        "resume_delay_s",
        "resume_delay_max_s",
        "poll_interval_s",
        "failsafe_timeout_s",
    )
    data = {
        "meter": meter,
        "fuse": startup.get("fuse"),
        "chargers": chargers,
        "control": {key: control[key] for key in settings if num(control.get(key)) is not None},
    }
    try:
        return site_from_data(data, "the log's startup record"), missing
    except ConfigError as exc:
        raise UsageError(f"the log's site cannot be rebuilt: {exc}") from None


def candidate_site(path: Path) -> SiteConfig:
    """A site file as ``simulate`` reads it."""
    raw = read_yaml_file(path)
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "", "expected a mapping")
    return site_from_data(raw, str(path), base=path.parent)
