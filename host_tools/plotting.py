"""PNG plots of a pump's programmed rate and delivered volume over a window of time."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402

MS_PER_HOUR = 3_600_000


def plot_rate_and_delivery(path: str | Path, rate_steps: Sequence[tuple[int, int]],
                           delivered: Sequence[tuple[int, int]], *, title: str = "",
                           start_ms: int | None = None, end_ms: int | None = None) -> Path:
    """Write a PNG with the programmed rate (mL/day, a step line) above the delivered volume (mL).

    ``rate_steps`` are ``(time_ms, rate_nl_per_day)`` changes in time order; ``delivered`` are
    ``(time_ms, delivered_nl)`` samples of the cumulative delivered volume. Time is drawn in hours
    from ``start_ms`` (default: the first point). Returns the path written.
    """
    times = [t for t, _ in rate_steps] + [t for t, _ in delivered]
    if not times:
        raise ValueError("nothing to plot: no rate steps and no delivery samples")
    origin = min(times) if start_ms is None else start_ms
    last = max(times) if end_ms is None else end_ms
    fig, (rate_ax, volume_ax) = plt.subplots(2, 1, sharex=True, figsize=(9, 6), constrained_layout=True)
    if rate_steps:
        xs = [(t - origin) / MS_PER_HOUR for t, _ in rate_steps] + [(last - origin) / MS_PER_HOUR]
        ys = [r / 1e6 for _, r in rate_steps] + [rate_steps[-1][1] / 1e6]
        rate_ax.step(xs, ys, where="post", color="tab:blue")
    rate_ax.set_ylabel("programmed rate (mL/day)")
    rate_ax.grid(True, alpha=0.3)
    if delivered:
        base = delivered[0][1]
        volume_ax.plot([(t - origin) / MS_PER_HOUR for t, _ in delivered],
                       [(v - base) / 1e6 for _, v in delivered], color="tab:orange")
    volume_ax.set_ylabel("delivered in window (mL)")
    volume_ax.set_xlabel("hours")
    volume_ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
    return path
