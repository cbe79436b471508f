"""Latency figures: ECDFs and quantile plots (milliseconds, log scale)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from certsentry_analysis.figures.style import (
    LINESTYLES,
    OKABE_ITO,
    house_style,
    literal,
    literals,
    log_axis,
    new_figure,
    no_data,
)


def latency_ecdf(
    frame: pd.DataFrame,
    *,
    group: str,
    latency: str = "latency_ms",
    prob: str | None = None,
    weight: str | None = None,
    top: int = 8,
    title: str | None = None,
) -> Figure:
    """ECDF of latency per group.

    With `prob` the frame already holds the curve (one row per group and quantile:
    probability and latency); without it, rows are raw latencies and the ECDF is drawn
    from them. Groups beyond `top` (by total `weight`, else by number of rows) are left out.
    """
    data = frame.dropna(subset=[latency])
    data = data[data[latency] > 0]
    keys = data[group].astype(str)
    if weight is not None:
        totals = data[weight].groupby(keys).sum().sort_values(ascending=False, kind="stable")
    else:
        totals = keys.value_counts()
    order = list(totals.index[:top])
    with house_style():
        fig, (ax,) = new_figure(height=3.9)
        if data.empty:
            no_data(ax, "no latencies")
            return fig

        for i, name in enumerate(order):
            part = data[data[group].astype(str) == name]
            if prob is not None:
                part = part.sort_values(prob)
                x, y = part[latency].to_numpy(float), part[prob].to_numpy(float)
            else:
                x = np.sort(part[latency].to_numpy(float))
                y = np.arange(1, len(x) + 1) / len(x)
            ax.step(
                x,
                y * 100,
                where="post",
                label=literal(name),
                color=OKABE_ITO[i % len(OKABE_ITO)],
                linestyle=LINESTYLES[(i // len(OKABE_ITO)) % len(LINESTYLES)],
            )
        ax.set_xscale("log")
        log_axis(ax.xaxis)
        ax.set_xlabel("Latency (ms, log scale)")
        ax.set_ylabel("Checks answered within (%)")
        ax.yaxis.set_major_formatter(PercentFormatter())
        ax.set_ylim(0, 100)
        if title:
            ax.set_title(title)
        # Below the plot: ECDFs of different responders fill every corner of the axes.
        fig.legend(loc="outside lower center", ncols=2)

    return fig


def latency_quantiles(
    frame: pd.DataFrame,
    *,
    label: str,
    quantiles: dict[str, str],
    top: int = 25,
    sort_by: str | None = None,
) -> Figure:
    """Per-group markers at several latency quantiles (e.g. p50, p90, p99), ms on log x."""
    present = {name: col for name, col in quantiles.items() if col in frame.columns}
    data = frame.dropna(subset=list(present.values()))
    key = sort_by or next(iter(present.values()), None)
    if key is not None:
        data = data.sort_values(key, ascending=False)
    data = data.head(top)
    height = 1.1 + 0.19 * max(len(data), 3)
    with house_style():
        fig, (ax,) = new_figure(height=height)
        if data.empty or not present:
            no_data(ax, "no latency quantiles")
            return fig

        y = np.arange(len(data))[::-1]
        columns = list(present.values())
        ax.hlines(
            y, data[columns].min(axis=1), data[columns].max(axis=1), color="#CCCCCC", linewidth=1
        )
        markers = ("o", "s", "D", "^", "v")
        for i, (name, column) in enumerate(present.items()):
            ax.plot(
                data[column],
                y,
                markers[i % len(markers)],
                label=literal(name),
                markersize=3.8,
                color=OKABE_ITO[i % len(OKABE_ITO)],
            )
        ax.set_yticks(y, literals(data[label]))
        ax.set_xscale("log")
        log_axis(ax.xaxis)
        ax.set_xlabel("Latency (ms, log scale)")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(present))

    return fig
