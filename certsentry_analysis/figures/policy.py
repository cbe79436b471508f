"""Figures of policy trade-offs: breakage curves, viability frontier, coverage, exposure."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

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


def breakage_curves(
    frame: pd.DataFrame,
    *,
    series: str,
    timeout_ms: str,
    breakage: str,
    low: str | None = None,
    high: str | None = None,
    ylabel: str = "Connections that would fail (%)",
    threshold: float | None = None,
) -> Figure:
    """Hard-fail breakage (share in [0, 1]) against the timeout, one line per policy."""
    data = frame.dropna(subset=[timeout_ms, breakage]).sort_values(timeout_ms)
    with house_style():
        fig, (ax,) = new_figure()
        if data.empty:
            no_data(ax, "no breakage replay")
            return fig

        for i, (name, part) in enumerate(data.groupby(series, sort=True)):
            colour = OKABE_ITO[i % len(OKABE_ITO)]
            x = part[timeout_ms].to_numpy(float) / 1000
            y = part[breakage].to_numpy(float) * 100
            ax.plot(
                x,
                y,
                marker="o",
                markersize=3,
                color=colour,
                label=literal(name),
                linestyle=LINESTYLES[(i // len(OKABE_ITO)) % len(LINESTYLES)],
            )
            if low and high and low in part and high in part:
                ax.fill_between(
                    x,
                    part[low].to_numpy(float) * 100,
                    part[high].to_numpy(float) * 100,
                    color=colour,
                    alpha=0.15,
                    linewidth=0,
                )
        if threshold is not None:
            ax.axhline(threshold * 100, color="#555555", linewidth=0.8, linestyle="--")
            ax.annotate(
                "viability threshold",
                (ax.get_xlim()[1], threshold * 100),
                ha="right",
                va="bottom",
                fontsize=7.5,
                color="#555555",
            )
        ax.set_xscale("log")
        log_axis(ax.xaxis)
        ax.set_xlabel("Hard-fail timeout (s, log scale)")
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(PercentFormatter())
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper right")

    return fig


def tradeoff_scatter(
    frame: pd.DataFrame,
    *,
    label: str,
    x: str,
    y: str,
    xlabel: str,
    ylabel: str,
    x_is_share: bool = True,
    y_is_share: bool = True,
    log_x: bool = False,
) -> Figure:
    """Labelled points, one per policy or configuration: a cost on x, a benefit on y."""
    data = frame.dropna(subset=[x, y])
    with house_style():
        fig, (ax,) = new_figure(height=3.4)
        if data.empty:
            no_data(ax, "no policies to compare")
            return fig

        xs = data[x].to_numpy(float) * (100 if x_is_share else 1)
        ys = data[y].to_numpy(float) * (100 if y_is_share else 1)
        for i, (xv, yv, name) in enumerate(zip(xs, ys, data[label], strict=True)):
            ax.plot(xv, yv, "o", color=OKABE_ITO[i % len(OKABE_ITO)], markersize=6)
            ax.annotate(
                literal(name), (xv, yv), xytext=(5, 4), textcoords="offset points", fontsize=7.5
            )
        if log_x:
            ax.set_xscale(
                "symlog", linthresh=max(np.min(xs[xs > 0]) if (xs > 0).any() else 1, 1e-3)
            )
        if x_is_share:
            ax.xaxis.set_major_formatter(PercentFormatter())
        if y_is_share:
            ax.yaxis.set_major_formatter(PercentFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.margins(x=0.15, y=0.12)

    return fig


def coverage_curve(
    frame: pd.DataFrame,
    *,
    size: str,
    coverage: str,
    series: str | None = None,
    marker_size: float | None = None,
    xlabel: str = "List size (KiB, log scale)",
    ylabel: str = "Revocations covered (%)",
) -> Figure:
    """Coverage (share in [0, 1]) against list size in bytes; a dashed line marks a budget."""
    data = frame.dropna(subset=[size, coverage]).sort_values(size)
    with house_style():
        fig, (ax,) = new_figure()
        if data.empty:
            no_data(ax, "no coverage data")
            return fig

        groups = data.groupby(series, sort=True) if series else [("", data)]
        for i, (name, part) in enumerate(groups):
            ax.plot(
                part[size].to_numpy(float) / 1024,
                part[coverage].to_numpy(float) * 100,
                marker="o",
                markersize=3,
                color=OKABE_ITO[i % len(OKABE_ITO)],
                label=literal(name) if series else None,
            )
        if marker_size is not None:
            ax.axvline(marker_size / 1024, color="#555555", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        log_axis(ax.xaxis)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(PercentFormatter())
        ax.set_ylim(0, 100)
        if series:
            ax.legend(loc="lower right")

    return fig


def grouped_bars(
    frame: pd.DataFrame,
    *,
    label: str,
    values: dict[str, str],
    xlabel: str,
    share: bool = True,
    log_x: bool = False,
) -> Figure:
    """Side-by-side horizontal bars for a few measures per row (e.g. per policy)."""
    present = {name: col for name, col in values.items() if col in frame.columns}
    data = frame.dropna(subset=list(present.values()), how="all")
    height = 1.2 + 0.3 * max(len(data), 3)
    with house_style():
        fig, (ax,) = new_figure(height=height)
        if data.empty or not present:
            no_data(ax, "no data")
            return fig

        y = np.arange(len(data))[::-1].astype(float)
        step = 0.8 / len(present)
        for i, (name, column) in enumerate(present.items()):
            v = data[column].to_numpy(float) * (100 if share else 1)
            ax.barh(
                y + 0.4 - step * (i + 0.5),
                v,
                height=step * 0.95,
                label=literal(name),
                color=OKABE_ITO[i % len(OKABE_ITO)],
            )
        ax.set_yticks(y, literals(data[label]))
        if share:
            ax.xaxis.set_major_formatter(PercentFormatter())
        if log_x:
            ax.set_xscale("log")
            log_axis(ax.xaxis)
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(present))

    return fig


def policy_panels(
    frame: pd.DataFrame,
    *,
    label: str,
    panels: dict[str, str],
    missing_text: str = "n/a",
) -> Figure:
    """Side-by-side horizontal bar panels (shares in [0, 1]), one row per policy.

    Each panel has its own x scale, so a breakage of 0.01% stays visible beside a
    protection of 90%. A missing value is written as `missing_text`, not drawn as zero.
    """
    n = max(len(frame), 1)
    with house_style():
        fig, axes = new_figure(len(panels), height=0.9 + 0.32 * n)
        y = np.arange(len(frame))[::-1]
        for i, (ax, (title, column)) in enumerate(zip(axes, panels.items(), strict=True)):
            values = frame[column].to_numpy(float) * 100
            colour = OKABE_ITO[i % len(OKABE_ITO)]
            ax.barh(y, np.nan_to_num(values), height=0.6, color=colour)
            top = np.nanmax(values) if np.isfinite(values).any() else 0.0
            for yi, v in zip(y, values, strict=True):
                text = missing_text if not np.isfinite(v) else f"{v:.3g}%"
                ax.text(np.nan_to_num(v) + top * 0.02, yi, text, va="center", fontsize=7.5)
            ax.set_xlim(0, top * 1.35 if top > 0 else 1)
            ax.xaxis.set_major_locator(MaxNLocator(4))
            # Room for the value labels, but no tick beyond 100% of anything.
            ax.set_xticks([t for t in ax.get_xticks() if 0 <= t <= min(100, top * 1.35)])
            ax.xaxis.set_major_formatter(PercentFormatter())
            ax.set_xlabel(title)
            ax.grid(axis="y", visible=False)
            if i == 0:
                ax.set_yticks(y, literals(frame[label]))
            else:
                ax.set_yticks(y, [""] * len(y))

    return fig
