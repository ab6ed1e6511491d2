"""``loadbalancer log --plot``: the decision log as a picture (needs the ``plot`` extra).

One panel per phase (meter current, house load, what the phase may carry, the fuse rating) and
one for the chargers (set-point and measured current); meter fallbacks and charger outages are
shaded, overload cuts marked. matplotlib is imported here only, with the Agg backend, so the
service and the other commands never load it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from loadbalancer.errors import LoadBalancerError, UsageError
from loadbalancer.review.clock import clock, duration
from loadbalancer.review.plot import PlotData

SECONDS_PER_DAY = 86400.0
INSTALL_HINT = "plotting needs matplotlib: pip install 'loadbalancer[plot]'"

#: one colour per phase (IEC 60446 brown, black, grey are hard to tell apart on screen)
PHASE_COLOURS = {"L1": "tab:blue", "L2": "tab:orange", "L3": "tab:green"}
CHARGER_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:red")
FALLBACK_SHADE: dict[str, Any] = {"color": "gold", "alpha": 0.3, "linewidth": 0}
OUTAGE_SHADE: dict[str, Any] = {"color": "tab:gray", "alpha": 0.3, "linewidth": 0}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise LoadBalancerError(INSTALL_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw(data: PlotData, out: str | Path) -> None:
    """Write the PNG to ``out``."""
    plt = _pyplot()
    # matplotlib's dates are days since 1970 (its default epoch): no datetime per point
    times = [_day(t) for t in data.times_s]
    if times:  # the last decision holds to the end of the window: draw it there
        times.append(_day(data.end_s))
    phases = list(data.meter_a)
    rows = len(phases) + 1 + (data.tariff is not None)
    fig, axes = plt.subplots(
        rows, 1, figsize=(12, 2.4 * rows + 1.0), sharex=True, squeeze=False, layout="constrained"
    )
    axes = [row[0] for row in axes]
    top = max(
        [data.site.rating_a or 0.0]
        + [v for series in data.meter_a.values() for v in series if v == v]
        + [v for series in data.limit_a.values() for v in series if v == v]
    )
    for ax, phase in zip(axes, phases, strict=False):
        _phase_panel(ax, data, phase, times, top)
    if data.tariff is not None:
        from loadbalancer.review.tariff_plot import draw_panel

        draw_panel(axes.pop(-2), data.tariff)  # above the chargers, the time axis below
    ax = axes[-1]
    _charger_panel(ax, data, times)
    _time_axis(ax, data)
    _legends(axes, data)
    start = clock(data.times_s[0], data.zone, date=True) if data.times_s else ""
    fuse = f", fuse {data.site.fuse}" if data.site.fuse else ""
    reduced = (
        f"\n(per {duration(data.bucket_s)}: highest currents, lowest limits and set-points)"
        if data.bucket_s
        else ""
    )
    fig.suptitle(
        f"Decision log from {start} to {clock(data.end_s, data.zone, date=True)}{fuse}{reduced}"
    )
    if times and times[-1] > times[0]:  # no margins: a log from year 1 would leave matplotlib's
        ax.set_xlim(times[0], times[-1])  # dates (years 1-9999) with them
    try:
        fig.savefig(out, dpi=100)
    except OSError as exc:
        raise LoadBalancerError(f"{out}: cannot write the plot: {exc.strerror or exc}") from None
    except (ValueError, OverflowError) as exc:  # times or currents matplotlib cannot draw
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{out}: cannot draw this log: {reason}") from None
    finally:
        plt.close(fig)


def _day(t_s: float) -> float:
    return t_s / SECONDS_PER_DAY


def _extend(values: tuple[float, ...]) -> list[float]:
    """A step series to the end of the window: its last value once more."""
    return [*values, values[-1]] if values else []


def _shade(ax: Any, data: PlotData) -> None:
    """Meter fallbacks and charger outages as shaded spans."""
    for e in data.fallbacks:
        ax.axvspan(_day(e.start_s), _day(e.end_s), **FALLBACK_SHADE)
    for episodes in data.outages.values():
        for e in episodes:
            ax.axvspan(_day(e.start_s), _day(e.end_s), **OUTAGE_SHADE)


def _phase_panel(ax: Any, data: PlotData, phase: str, times: list[float], top: float) -> None:
    colour = PHASE_COLOURS.get(phase, "tab:blue")
    _shade(ax, data)
    ax.step(
        times,
        _extend(data.house_a[phase]),
        where="post",
        color="0.55",
        lw=1,
        label="house (meter − chargers)",
    )
    ax.step(
        times,
        _extend(data.meter_a[phase]),
        where="post",
        color=colour,
        lw=1.4,
        label="meter current",
    )
    ax.step(
        times,
        _extend(data.limit_a[phase]),
        where="post",
        color="tab:green",
        lw=1,
        ls="--",
        label="allowed on the phase (rating − margin − reserve)",
    )
    rating = data.site.rating_a
    if rating is not None:
        ax.axhline(rating, color="tab:red", lw=1.2, label=f"fuse rating {rating:g} A")
    ax.set_ylabel(f"{phase} current (A)")
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]), top=top * 1.1 + 1)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"Phase {phase}", loc="left", fontsize=10)


def _charger_panel(ax: Any, data: PlotData, times: list[float]) -> None:
    _shade(ax, data)
    for i, name in enumerate(data.setpoint_a):
        colour = CHARGER_COLOURS[i % len(CHARGER_COLOURS)]
        ax.step(
            times,
            _extend(data.setpoint_a[name]),
            where="post",
            color=colour,
            lw=1.6,
            label=f"{name} set-point",
        )
        ax.step(
            times,
            _extend(data.measured_a[name]),
            where="post",
            color=colour,
            lw=1,
            ls=":",
            label=f"{name} measured (highest phase)",
        )
        marks = ((data.cuts[name], "v", "overload cut"), (data.pauses[name], "X", "pause"))
        for moments, marker, what in marks:
            if moments:
                ax.plot(
                    [_day(t) for t in moments],
                    [0.5] * len(moments),
                    marker,
                    color="tab:red",
                    ms=8,
                    ls="none",
                    label=f"{name} {what}",
                )
    ax.set_ylabel("charger current (A)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_title("Chargers", loc="left", fontsize=10)


def _time_axis(ax: Any, data: PlotData) -> None:
    """Local time in the log's offset along the bottom panel."""
    import matplotlib.dates as mdates

    zone = data.zone
    offset = datetime.fromtimestamp(data.end_s, zone).strftime("%z")
    ax.set_xlabel(f"local time (UTC{offset[:3]}:{offset[3:]})" if offset else "time")
    locator = mdates.AutoDateLocator(tz=zone)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=zone)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)


def _legends(axes: list[Any], data: PlotData) -> None:
    """The phases share one legend; the chargers have theirs (both with the shades)."""
    from matplotlib.patches import Patch

    extra = []
    if data.fallbacks:
        extra.append(Patch(label="meter fallback (stale)", **FALLBACK_SHADE))
    if any(data.outages.values()):
        extra.append(Patch(label="charger offline", **OUTAGE_SHADE))
    for axis in (axes[0], axes[-1]):
        handles, _ = axis.get_legend_handles_labels()
        axis.legend(
            handles=handles + extra, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8
        )
