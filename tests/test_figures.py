"""Figures: house style, labelled axes, empty inputs, byte-identical SVG."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from certsentry_analysis import figures
from certsentry_analysis.figures.style import OKABE_ITO

RATES = pd.DataFrame(
    {
        "responder": ["a.example", "b.example", "c.example"],
        "rate": [0.001, 0.02, 0.0],
        "ci_low": [0.0005, 0.015, 0.0],
        "ci_high": [0.002, 0.03, 0.001],
    }
)
LATENCY = pd.DataFrame(
    {
        "responder": np.repeat(["a.example", "b.example"], 50),
        "latency_ms": np.concatenate([np.linspace(20, 400, 50), np.linspace(100, 900, 50)]),
    }
)
QUANTILES = pd.DataFrame(
    {
        "responder": ["a", "b"],
        "p50_ms": [40.0, 200.0],
        "p90_ms": [90.0, 500.0],
        "p99_ms": [300.0, 1500.0],
    }
)
TAXONOMY = pd.DataFrame(
    {
        "responder": ["a", "a", "b"],
        "failure_class": ["network", "http", "network"],
        "failures": [10, 5, 7],
    }
)
OUTAGES = pd.DataFrame(
    {
        "responder": ["a", "b"],
        "start": pd.to_datetime(["2012-03-01 10:00", "2012-03-02 00:00"]),
        "end": pd.to_datetime(["2012-03-01 12:00", "2012-03-02 00:00"]),
        "kind": ["down", "degraded"],
    }
)
CURVES = pd.DataFrame(
    {
        "policy": ["all"] * 3 + ["scoped"] * 3,
        "timeout_ms": [1000, 3000, 15000] * 2,
        "breakage": [0.05, 0.02, 0.01, 0.01, 0.004, 0.002],
    }
)
POLICIES = pd.DataFrame(
    {
        "policy": ["soft", "hard"],
        "breakage": [0.0, 0.03],
        "protection": [0.0, 0.9],
        "bytes": [100.0, 100.0],
    }
)
SIZES = pd.DataFrame({"size_bytes": [1e3, 1e4, 1e5], "coverage": [0.1, 0.4, 0.8]})

MAKERS: dict[str, Callable[[], Figure]] = {
    "league": lambda: figures.league_plot(RATES),
    "ecdf": lambda: figures.latency_ecdf(LATENCY, group="responder"),
    "quantiles": lambda: figures.latency_quantiles(
        QUANTILES, label="responder", quantiles={"p50": "p50_ms", "p90": "p90_ms", "p99": "p99_ms"}
    ),
    "taxonomy": lambda: figures.taxonomy_bars(TAXONOMY, group="responder"),
    "outages": lambda: figures.outage_timeline(OUTAGES, kind="kind"),
    "shares": lambda: figures.share_bars(
        RATES, label="responder", share="rate", low="ci_low", high="ci_high"
    ),
    "curves": lambda: figures.breakage_curves(
        CURVES, series="policy", timeout_ms="timeout_ms", breakage="breakage", threshold=0.01
    ),
    "tradeoff": lambda: figures.tradeoff_scatter(
        POLICIES,
        label="policy",
        x="breakage",
        y="protection",
        xlabel="Broken (%)",
        ylabel="Caught (%)",
    ),
    "coverage": lambda: figures.coverage_curve(SIZES, size="size_bytes", coverage="coverage"),
    "bars": lambda: figures.grouped_bars(
        POLICIES,
        label="policy",
        values={"broken": "breakage", "caught": "protection"},
        xlabel="Share (%)",
    ),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_every_figure_labels_its_x_axis_with_a_unit(name: str) -> None:
    fig = MAKERS[name]()

    label = fig.axes[0].get_xlabel()

    assert label
    assert "(" in label and ")" in label


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_svg_bytes_are_identical_across_renders(name: str) -> None:
    first = figures.svg_bytes(MAKERS[name]())
    second = figures.svg_bytes(MAKERS[name]())

    assert first == second
    assert b"<dc:date>" not in first


def test_svg_is_deterministic_even_when_the_global_salt_is_random() -> None:
    import matplotlib as mpl

    with mpl.rc_context({"svg.hashsalt": None}):
        first = figures.svg_bytes(MAKERS["league"]())
        second = figures.svg_bytes(MAKERS["league"]())

    assert first == second


def test_first_series_is_drawn_in_the_first_okabe_ito_colour() -> None:
    fig = figures.breakage_curves(
        CURVES, series="policy", timeout_ms="timeout_ms", breakage="breakage"
    )

    colour = to_hex(fig.axes[0].get_lines()[0].get_color())

    assert colour.upper() == OKABE_ITO[0]


@pytest.mark.parametrize(
    "make",
    [
        lambda: figures.league_plot(RATES.iloc[0:0]),
        lambda: figures.latency_ecdf(LATENCY.iloc[0:0], group="responder"),
        lambda: figures.outage_timeline(OUTAGES.iloc[0:0]),
        lambda: figures.breakage_curves(
            CURVES.iloc[0:0], series="policy", timeout_ms="timeout_ms", breakage="breakage"
        ),
        lambda: figures.coverage_curve(SIZES.iloc[0:0], size="size_bytes", coverage="coverage"),
    ],
)
def test_empty_input_draws_a_message_instead_of_failing(make: Callable[[], Figure]) -> None:
    fig = make()

    texts = [t.get_text() for t in fig.axes[0].texts]

    assert any(t.startswith("no ") for t in texts)


def test_save_svg_leaves_an_unchanged_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "f" / "league.svg"
    figures.save_svg(MAKERS["league"](), path)
    before = path.stat().st_mtime_ns

    figures.save_svg(MAKERS["league"](), path)

    assert path.stat().st_mtime_ns == before


def test_figures_do_not_change_global_matplotlib_settings() -> None:
    import matplotlib as mpl

    before = dict(mpl.rcParams)

    MAKERS["curves"]()

    assert dict(mpl.rcParams) == before


def test_data_strings_with_dollars_are_not_read_as_math() -> None:
    from matplotlib.cbook import is_math_text

    names = RATES.assign(responder=["Pay$afe $CA$", "b", "c"])

    fig = figures.league_plot(names)

    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert r"Pay\$afe \$CA\$" in labels
    assert not any(is_math_text(t) for t in labels)
