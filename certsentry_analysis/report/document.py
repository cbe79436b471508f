"""A small document model that carries every data string to Typst as JSON.

Builders describe a document as blocks (headings, paragraphs of text runs, tables,
figures, notes). `render.compile_pdf` hands the model to a Typst template as a JSON
value in `sys.inputs`; the template inserts each string as a Typst *string value*,
which Typst always sets as literal text. Data therefore never becomes markup: a CA
named `*Evil* #CA [x]` prints exactly so, with no escaping rules to get wrong.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Run = dict[str, str]
Part = str | Run
Cell = str | list[Part]

# Published sources the text cites; numbered in order of first citation.
REFERENCES: dict[str, str] = {
    "hurst2012": (
        "R. Hurst. Measurements of OCSP responder performance (mean response times of "
        "major CAs' responders). Blog post, 2012."
    ),
    "netcraft2013": (
        "Netcraft. Certificate revocation and the performance of OCSP. Netcraft News, April 2013."
    ),
    "zhu2016": (
        "L. Zhu, J. Amann, J. Heidemann. Measuring the latency and pervasiveness of TLS "
        "certificate revocation. Passive and Active Measurement (PAM), 2016."
    ),
    "liu2015": (
        "Y. Liu et al. An end-to-end measurement of certificate revocation in the web's "
        "PKI. ACM Internet Measurement Conference (IMC), 2015."
    ),
    "larisch2017": (
        "J. Larisch et al. CRLite: a scalable system for pushing all TLS revocations to "
        "all browsers. IEEE Symposium on Security and Privacy, 2017."
    ),
    "langley2012": (
        "A. Langley. Revocation checking and Chrome's CRL (CRLSets). "
        "ImperialViolet blog, February 2012."
    ),
    "ms2012": (
        "Microsoft. Certificate revocation checking in Windows: CryptoAPI URL retrieval "
        "timeouts (per-URL and cumulative per-chain). Microsoft documentation."
    ),
    "rfc6960": "S. Santesson et al. RFC 6960: X.509 Internet PKI Online Certificate Status "
    "Protocol (OCSP). IETF, 2013.",
    "rfc5280": "D. Cooper et al. RFC 5280: Internet X.509 PKI Certificate and CRL Profile. "
    "IETF, 2008.",
}


def text(value: str) -> Run:
    """A plain text run."""
    return {"t": value, "s": ""}


def strong(value: str) -> Run:
    """A bold text run (headline numbers)."""
    return {"t": value, "s": "b"}


def emph(value: str) -> Run:
    """An italic text run."""
    return {"t": value, "s": "i"}


def code(value: str) -> Run:
    """A monospaced run (table names, commands)."""
    return {"t": value, "s": "c"}


def cite(key: str) -> Run:
    """A citation of one entry of `REFERENCES`, numbered when the document is finished."""
    if key not in REFERENCES:
        raise ValueError(f"unknown reference key {key!r}; known: {sorted(REFERENCES)}")

    return {"t": key, "s": "cite"}


def as_runs(parts: tuple[Part, ...] | list[Part]) -> list[Run]:
    """Normalise strings and runs into a list of runs."""
    runs: list[Run] = []
    for part in parts:
        if isinstance(part, str):
            runs.append(text(part))
        elif isinstance(part, dict) and set(part) == {"t", "s"}:
            runs.append(part)
        else:
            raise TypeError(f"a paragraph part must be str or a run, got {part!r}")

    return runs


@dataclass
class Document:
    """Blocks and figures of one PDF, serialisable to the JSON the templates read."""

    title: str
    subtitle: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    _figure_order: list[str] = field(default_factory=list)

    def heading(self, title: str, level: int = 1) -> None:
        """A numbered section heading."""
        self.blocks.append({"kind": "heading", "level": level, "body": [text(title)]})

    def para(self, *parts: Part) -> None:
        """A paragraph made of plain strings and runs."""
        self.blocks.append({"kind": "para", "body": as_runs(parts)})

    def bullets(self, items: list[list[Part]]) -> None:
        """A bullet list; each item is a list of parts."""
        self.blocks.append({"kind": "bullets", "items": [as_runs(item) for item in items]})

    def note(self, *parts: Part) -> None:
        """A boxed remark, used where a section's data is absent."""
        self.blocks.append({"kind": "note", "body": as_runs(parts)})

    def table(
        self,
        header: list[str],
        rows: Sequence[Sequence[Cell]],
        caption: list[Part],
        *,
        align: str | None = None,
        widths: list[float] | None = None,
        size: float = 8,
    ) -> None:
        """A table; a cell is a string or a list of parts; `align` has l, r or c per column.

        `widths` are relative column widths; `size` the type size in points.
        """
        align = align or "l" + "r" * (len(header) - 1)
        if len(align) != len(header):
            raise ValueError(f"align {align!r} does not match {len(header)} columns")
        for i, row in enumerate(rows):
            if len(row) != len(header):
                raise ValueError(f"table row {i} has {len(row)} cells, header {len(header)}")
        self.blocks.append(
            {
                "kind": "table",
                "header": [str(h) for h in header],
                "rows": [
                    [as_runs(c) if isinstance(c, list) else str(c) for c in row] for row in rows
                ],
                "align": align,
                "widths": widths,
                "size": size,
                "caption": as_runs(caption),
            }
        )

    def figure(self, name: str, svg: bytes, caption: list[Part], width: float = 1.0) -> None:
        """A figure from SVG bytes; `width` is the share of the text width."""
        if name in self.figures:
            raise ValueError(f"figure {name!r} added twice")
        self.figures[name] = svg.decode("utf-8")
        self._figure_order.append(name)
        self.blocks.append(
            {"kind": "figure", "name": name, "width": width, "caption": as_runs(caption)}
        )

    def pagebreak(self) -> None:
        """Start a new page."""
        self.blocks.append({"kind": "pagebreak"})

    def _number_citations(self) -> list[dict[str, Any]]:
        """Replace cite runs by [n] in order of first use; returns the reference list."""
        order: list[str] = []
        for block in self.blocks:
            bodies = [*block.get("items", []), block.get("body", []), block.get("caption", [])]
            bodies += [c for row in block.get("rows", []) for c in row if isinstance(c, list)]
            for body in bodies:
                for run in body:
                    if run["s"] == "cite":
                        if run["t"] not in order:
                            order.append(run["t"])
                        run["n"] = str(order.index(run["t"]) + 1)

        return [{"n": str(i + 1), "text": REFERENCES[key]} for i, key in enumerate(order)]

    def to_json(self) -> str:
        """The JSON value the Typst templates decode (keys sorted: stable bytes)."""
        references = self._number_citations()
        payload = {
            "title": self.title,
            "subtitle": self.subtitle,
            "meta": self.meta,
            "blocks": self.blocks,
            "references": references,
            "figures": self.figures,
        }

        return json.dumps(payload, sort_keys=True, ensure_ascii=False, allow_nan=False)
