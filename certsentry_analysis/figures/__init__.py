"""Matplotlib figures shared by the report, the briefing and the notebooks.

Every function takes a tidy DataFrame (a result table) and returns a
`matplotlib.figure.Figure` in the house style; `save_svg` writes it as
deterministic SVG (same bytes for the same data).
"""

from certsentry_analysis.figures.latency import latency_ecdf, latency_quantiles
from certsentry_analysis.figures.policy import (
    breakage_curves,
    coverage_curve,
    grouped_bars,
    policy_panels,
    tradeoff_scatter,
)
from certsentry_analysis.figures.reliability import (
    league_plot,
    outage_timeline,
    share_bars,
    taxonomy_bars,
)
from certsentry_analysis.figures.style import (
    OKABE_ITO,
    house_style,
    new_figure,
    save_svg,
    svg_bytes,
)

__all__ = [
    "OKABE_ITO",
    "breakage_curves",
    "coverage_curve",
    "grouped_bars",
    "house_style",
    "latency_ecdf",
    "latency_quantiles",
    "league_plot",
    "new_figure",
    "outage_timeline",
    "policy_panels",
    "save_svg",
    "share_bars",
    "svg_bytes",
    "taxonomy_bars",
    "tradeoff_scatter",
]
