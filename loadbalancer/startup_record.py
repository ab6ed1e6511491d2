"""The ``startup`` record's fields: what ``loadbalancer log --explain`` needs to know of the site
the service ran with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadbalancer import __version__
from loadbalancer.config import SiteConfig
from loadbalancer.meter.sources import redact_key

if TYPE_CHECKING:
    from loadbalancer.tariff.settings import TariffConfig


def startup_fields(site: SiteConfig, shadow: bool) -> dict[str, Any]:
    """The ``startup`` record: the version, the site, the fuse, the chargers and the control
    settings (what ``loadbalancer log --explain`` needs to tell the rule behind a limit)."""
    return {
        "version": __version__,
        "site": site.file,
        "shadow": shadow,
        "fuse": site.fuse.name,
        "fuse_rating_a": site.fuse.rating_a,
        "fuse_margin_a": site.fuse.margin_a,
        "fuse_phases": site.fuse.phases,
        "meter": redact_key(site.meter.source.url),
        "chargers": [
            {
                "name": c.name,
                "profile": c.profile.name,
                "endpoint": c.endpoint,
                "phases": list(c.spec.phases),
                "min_current_a": c.spec.min_current_a,
                "max_current_a": c.spec.max_current_a,
                "priority": c.spec.priority,
            }
            for c in site.chargers
        ],
        "control": {
            "safe_current_a": site.control.safe_current_a,
            "ramp_up_delay_s": site.control.ramp_up_delay_s,
            "resume_delay_s": site.control.resume_delay_s,
            "stale_after_s": site.control.stale_after_s,
            "resume_margin_a": site.control.resume_margin_a,
            "resume_delay_max_s": site.control.resume_delay_max_s,
            "telegram_period_s": site.meter.telegram_period_s,
            "poll_interval_s": site.poll_interval_s,
            "failsafe_timeout_s": site.failsafe_timeout_s,
        },
        **({"tariff": _startup_tariff(site.tariff)} if site.tariff is not None else {}),
    }


def _startup_tariff(config: TariffConfig) -> dict[str, Any]:
    """The ``startup`` record's ``tariff`` object."""
    return {
        "profile": config.profile.name,
        "budget_kw": config.budget_kw,
        "mode": config.mode,
        "margin_kw": config.margin_kw,
    }
