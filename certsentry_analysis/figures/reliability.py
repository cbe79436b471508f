"""Figures of responder reliability: league table, failure taxonomy, outages, attribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter

from certsentry_analysis.figures.style import (
    FULL_WIDTH_IN,
    GREY,
    OKABE_ITO,
    house_style,
    literal,
    literals,
    new_figure,
    no_data,
)


def _pct_label(value: float, _pos: int) -> str:
    # Failure rates span orders of magnitude; print each tick at its own precision.
    if value >= 1:
        return f"{value:g}%"
    return f"{value:.3g}%"


def league_plot(
    frame: pd.DataFrame,
    *,
    label: str = "responder",
    rate: str = "rate",
    low: str = "ci_low",
    high: str = "ci_high",
    top: int = 25,
    xlabel: str = "Failure rate of wire checks (%, log scale; bars: 95% interval)",
) -> Figure:
    """Dot-and-interval plot of a rate per responder (shares in [0, 1]), worst on top."""
    data = frame.dropna(subset=[rate]).sort_values(rate, ascending=False).head(top)
    height = 1.0 + 0.19 * max(len(data), 3)
    with house_style():
        fig, (ax,) = new_figure(height=height)
        if data.empty:
            no_data(ax, "no rates to plot")
            return fig

        y = np.arange(len(data))[::-1]
        values = data[rate].to_numpy(float) * 100
        floor = max(values[values > 0].min() / 3, 1e-4) if (values > 0).any() else 1e-3
        shown = np.maximum(values, floor)
        if low in data and high in data:
            lo = np.maximum(data[low].to_numpy(float) * 100, floor)
            hi = np.maximum(data[high].to_numpy(float) * 100, floor)
            ax.hlines(y, lo, hi, color=OKABE_ITO[0], linewidth=1.2, alpha=0.8)
        ax.plot(shown, y, "o", color=OKABE_ITO[0], markersize=4)
        ax.set_yticks(y, literals(data[label]))
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(_pct_label))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)

    return fig


def taxonomy_bars(
    frame: pd.DataFrame,
    *,
    group: str,
    category: str = "failure_class",
    value: str = "failures",
    top: int = 15,
    xlabel: str = "Share of failed wire checks (%)",
) -> Figure:
    """Stacked horizontal bars: how each group's failures split across categories."""
    pivot = frame.pivot_table(index=group, columns=category, values=value, aggfunc="sum")
    pivot = pivot.fillna(0)
    pivot = pivot.loc[pivot.sum(axis=1).sort_values(ascending=False).index].head(top)
    height = 1.2 + 0.2 * max(len(pivot), 3)
    with house_style():
        fig, (ax,) = new_figure(height=height)
        if pivot.empty:
            no_data(ax, "no failures to classify")
            return fig

        shares = pivot.div(pivot.sum(axis=1), axis=0) * 100
        y = np.arange(len(shares))[::-1]
        left = np.zeros(len(shares))
        for i, column in enumerate(shares.columns):
            ax.barh(
                y,
                shares[column],
                left=left,
                height=0.7,
                label=literal(column),
                color=OKABE_ITO[i % len(OKABE_ITO)],
            )
            left += shares[column].to_numpy()
        ax.set_yticks(y, literals(shares.index))
        ax.set_xlim(0, 100)
        ax.xaxis.set_major_formatter(PercentFormatter())
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)
        ax.legend(ncols=min(len(shares.columns), 5), loc="lower center", bbox_to_anchor=(0.5, 1.0))

    return fig


def outage_timeline(
    frame: pd.DataFrame,
    *,
    label: str = "responder",
    start: str = "start",
    end: str = "end",
    kind: str | None = None,
    top: int = 25,
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> Figure:
    """One row per responder, a bar per detected outage along UTC time.

    `period` (first and last instant of the data) fixes the time axis, so an outage is
    seen against the whole observation window rather than filling the plot.
    """
    data = frame.dropna(subset=[start, end])
    names = list(dict.fromkeys(data.sort_values(start)[label].astype(str)))[:top]
    height = 1.2 + 0.2 * max(len(names), 3)
    with house_style():
        fig, (ax,) = new_figure(height=height)
        if data.empty:
            no_data(ax, "no outages detected")
            return fig

        kinds = sorted(data[kind].astype(str).unique()) if kind else [""]
        colours = {k: OKABE_ITO[(i + 3) % len(OKABE_ITO)] for i, k in enumerate(kinds)}
        rows = {name: len(names) - 1 - i for i, name in enumerate(names)}
        for record in data.itertuples(index=False):
            name = str(getattr(record, label))
            if name not in rows:
                continue
            t0 = pd.Timestamp(getattr(record, start))
            t1 = pd.Timestamp(getattr(record, end))
            k = str(getattr(record, kind)) if kind else ""
            # A zero-length outage would vanish; draw it at least as a hairline.
            width = max((t1 - t0) / pd.Timedelta(days=1), 1 / 96)
            ax.barh(rows[name], width, left=t0, height=0.6, color=colours[k])
        if kind:
            for k, colour in colours.items():
                ax.barh([], [], color=colour, label=literal(k))
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(kinds))
        ax.set_yticks(list(rows.values()), literals(rows.keys()))
        if period is not None:
            ax.set_xlim(pd.Timestamp(period[0]), pd.Timestamp(period[1]))
        ax.set_xlabel("Time (UTC)")
        fig.autofmt_xdate(rotation=30)
        ax.grid(axis="y", visible=False)

    return fig


def share_bars(
    frame: pd.DataFrame,
    *,
    label: str,
    share: str,
    low: str | None = None,
    high: str | None = None,
    xlabel: str = "Share (%)",
    width: float = FULL_WIDTH_IN,
) -> Figure:
    """Horizontal bars of shares in [0, 1] with optional interval whiskers."""
    data = frame.dropna(subset=[share])
    height = 1.0 + 0.24 * max(len(data), 3)
    with house_style():
        fig, (ax,) = new_figure(width=width, height=height)
        if data.empty:
            no_data(ax, "no data")
            return fig

        y = np.arange(len(data))[::-1]
        values = data[share].to_numpy(float) * 100
        colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(data))]
        ax.barh(y, values, height=0.65, color=colours)
        if low and high and low in data and high in data:
            err = np.vstack(
                [
                    values - data[low].to_numpy(float) * 100,
                    data[high].to_numpy(float) * 100 - values,
                ]
            )
            ax.errorbar(
                values,
                y,
                xerr=np.clip(err, 0, None),
                fmt="none",
                ecolor=GREY,
                capsize=2,
                linewidth=0.9,
            )
        ax.set_yticks(y, literals(data[label]))
        ax.xaxis.set_major_formatter(PercentFormatter())
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)

    return fig
