"""One look for every figure: palette, sizes, and deterministic SVG output.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot state), so the
report, tests and notebooks can make them side by side without leaking settings.
Sizes are in inches at print scale: a full-width figure fills the text width of an
A4 page with 2.2 cm margins, and the smallest type is 8 pt after placement.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

log = logging.getLogger(__name__)

# Okabe & Ito (2008) colour-blind-safe palette, ordered so neighbours differ in
# lightness too (legible in greyscale print). Yellow comes last: weak on white.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
GREY = "#8C8C8C"
LINESTYLES = ("-", "--", ":", "-.")

FULL_WIDTH_IN = 6.3
HALF_WIDTH_IN = 3.1
DEFAULT_HEIGHT_IN = 3.2
# A fixed salt makes matplotlib's SVG element ids the same on every run.
SVG_HASH_SALT = "certsentry-analysis"

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "svg.fonttype": "path",
    "svg.hashsalt": SVG_HASH_SALT,
    "path.simplify": True,
}


@contextmanager
def house_style() -> Iterator[None]:
    """Apply the suite's matplotlib settings for the duration of the block."""
    with mpl.rc_context(RC):  # type: ignore[arg-type]
        yield


def new_figure(
    ncols: int = 1, *, width: float = FULL_WIDTH_IN, height: float = DEFAULT_HEIGHT_IN
) -> tuple[Figure, list[Axes]]:
    """A figure in house style with `ncols` side-by-side axes (call inside `house_style`)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]

    return fig, axes


def svg_bytes(fig: Figure) -> bytes:
    """The figure as SVG, byte-identical for identical input (no date, fixed ids)."""
    buffer = io.BytesIO()
    with house_style():
        fig.savefig(buffer, format="svg", metadata={"Date": None})

    return buffer.getvalue()


def save_svg(fig: Figure, path: Path) -> Path:
    """Write the figure as deterministic SVG to `path`, creating folders; returns `path`."""
    data = svg_bytes(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Rewriting identical bytes would still bump the mtime and make make rebuild.
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    log.debug("figure %s: %d bytes", path.name, len(data))

    return path


def literal(value: object) -> str:
    """A data string (CA, responder, policy name) that matplotlib draws as typed.

    matplotlib reads text between two `$` as math; escaping every `$` keeps names such
    as "Pay$afe CA $1" literal. Nothing else in plain text is special.
    """
    return str(value).replace("$", r"\$")


def literals(values: Iterable[object]) -> list[str]:
    """`literal` applied to each value."""
    return [literal(v) for v in values]


def log_axis(axis: Axis, unit: str = "") -> None:
    """Log-scale ticks written as plain numbers; call after plotting (reads the limits).

    Ticks sit at 1, 2 and 5 times powers of ten over narrow ranges, at 1 and 3 over
    medium ones and at powers of ten only over wide ones, so labels never collide.
    """
    # get_xlim/get_ylim bring the lazily autoscaled limits up to date first.
    axes = axis.axes
    limits = axes.get_xlim() if axis is axes.xaxis else axes.get_ylim()
    low, high = sorted(limits)
    decades = np.log10(high / low) if low > 0 and high > 0 else 0.0
    subs = (1.0, 2.0, 5.0) if decades <= 2 else (1.0, 3.0) if decades <= 3.3 else (1.0,)
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.10g}{unit}"))
    axis.set_minor_formatter(NullFormatter())


def no_data(ax: Axes, message: str) -> None:
    """Mark an axes as empty with a short reason instead of drawing nothing."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
