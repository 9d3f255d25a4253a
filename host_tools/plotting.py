"""PNG plots of a pump's programmed rate and delivered volume over a window of time.

The time axis shows the pump's wall clock (time of day, with the date when the plot spans days);
the programmed schedule ahead of the pump's now can be drawn after the window, dashed, so a
clinician sees what the pump will do next.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

MS_PER_HOUR = 3_600_000


def clock(wall_ms: int) -> dt.datetime:
    """A pump wall-clock instant (ms since 1970-01-01, pump local time) as a naive datetime."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=wall_ms)


def plot_rate_and_delivery(path: str | Path, rate_steps: Sequence[tuple[int, int]],
                           delivered: Sequence[tuple[int, int]], *, title: str = "",
                           start_ms: int | None = None, end_ms: int | None = None,
                           planned_steps: Sequence[tuple[int, int]] = (),
                           planned_end_ms: int | None = None) -> Path:
    """Write a PNG with the programmed rate (mL/day, a step line) above the delivered volume (mL).

    ``rate_steps`` are ``(time_ms, rate_nl_per_day)`` changes in time order; ``delivered`` are
    ``(time_ms, delivered_nl)`` samples of the cumulative delivered volume; every time is on the
    pump's wall clock and drawn as clock time. ``planned_steps`` (same form, from ``end_ms`` on)
    up to ``planned_end_ms`` are the schedule ahead, drawn dashed. Returns the path written.
    """
    times = [t for t, _ in rate_steps] + [t for t, _ in delivered]
    if not times:
        raise ValueError("nothing to plot: no rate steps and no delivery samples")
    origin = min(times) if start_ms is None else start_ms
    last = max(times) if end_ms is None else end_ms
    fig, (rate_ax, volume_ax) = plt.subplots(2, 1, sharex=True, figsize=(9, 6), constrained_layout=True)
    if rate_steps:
        xs = [clock(t) for t, _ in rate_steps] + [clock(last)]
        ys = [r / 1e6 for _, r in rate_steps] + [rate_steps[-1][1] / 1e6]
        rate_ax.step(xs, ys, where="post", color="tab:blue", label="in force")
    if planned_steps:
        stop = planned_end_ms if planned_end_ms is not None else planned_steps[-1][0]
        xs = [clock(t) for t, _ in planned_steps] + [clock(stop)]
        ys = [r / 1e6 for _, r in planned_steps] + [planned_steps[-1][1] / 1e6]
        rate_ax.step(xs, ys, where="post", color="tab:blue", linestyle="--", alpha=0.7,
                     label="programmed ahead")
        rate_ax.axvline(clock(last), color="grey", linewidth=0.8)
        rate_ax.legend(loc="upper left", fontsize="small")
    rate_ax.set_ylabel("programmed rate (mL/day)")
    rate_ax.grid(True, alpha=0.3)
    if delivered:
        base = delivered[0][1]
        volume_ax.plot([clock(t) for t, _ in delivered],
                       [(v - base) / 1e6 for _, v in delivered], color="tab:orange")
    volume_ax.set_ylabel("delivered in window (mL)")
    volume_ax.set_xlabel("pump clock")
    locator = mdates.AutoDateLocator()
    volume_ax.xaxis.set_major_locator(locator)
    volume_ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    volume_ax.set_xlim(clock(origin), clock(max(last, planned_end_ms or last)))
    volume_ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
    return path
