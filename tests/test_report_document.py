"""The document model and Typst rendering: data strings always print literally."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_warehouse import EVIL_CA

from certsentry_analysis.figures import house_style, new_figure, svg_bytes
from certsentry_analysis.report.document import Document, cite, code, emph, strong
from certsentry_analysis.report.render import ReportBuildError, compile_pdf

STAMP = datetime(2012, 3, 4, tzinfo=UTC)
# Everything Typst markup gives a meaning to, plus letters so words form.
MARKUP = "#[]*_$\\<>@`=-+/~'\".:;,(){}|^&%!?ab "


def _text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))

    return "\n".join(page.extract_text() for page in reader.pages)


def _squash(value: str) -> str:
    # Line breaks and justification spacing are layout, not content.
    return re.sub(r"\s+", "", value)


def _figure_svg() -> bytes:
    with house_style():
        fig, (ax,) = new_figure(width=2, height=1.2)
        ax.plot([1, 2], [3, 4])
        ax.set_xlabel("x (ms)")

    return svg_bytes(fig)


def test_markup_characters_in_every_block_kind_print_literally() -> None:
    doc = Document(title=EVIL_CA, subtitle=EVIL_CA)
    doc.meta = {"byline": EVIL_CA, "scope": [["CA", EVIL_CA]], "abstract": [strong(EVIL_CA)]}
    doc.heading(EVIL_CA)
    doc.para("Name: ", EVIL_CA, emph(EVIL_CA), code(EVIL_CA), cite("rfc6960"))
    doc.bullets([[EVIL_CA]])
    doc.note(EVIL_CA)
    doc.table(["name", "n"], [[EVIL_CA, "1"]], [EVIL_CA], align="lr")
    doc.figure("f", _figure_svg(), [EVIL_CA])

    text = _squash(_text(compile_pdf(doc, "report", STAMP)))

    # Title page, heading, outline, paragraph (3 styles), list, note, table, two captions
    # and the footer: every occurrence survives verbatim.
    assert text.count(_squash(EVIL_CA)) >= 10


def test_markup_characters_print_literally_in_the_briefing() -> None:
    doc = Document(title="Briefing", subtitle=EVIL_CA)
    doc.meta = {"recommendation": [strong(EVIL_CA), " is best."]}
    doc.para(EVIL_CA)

    text = _squash(_text(compile_pdf(doc, "briefing", STAMP)))

    # Subtitle, recommendation and paragraph.
    assert text.count(_squash(EVIL_CA)) == 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=MARKUP, min_size=1, max_size=40).filter(lambda s: s.strip()))
def test_any_markup_string_round_trips_through_the_pdf(name: str) -> None:
    doc = Document(title="t")
    doc.meta = {"byline": "", "scope": [], "abstract": []}
    doc.para("<<", name, ">>")

    text = _squash(_text(compile_pdf(doc, "report", STAMP)))

    assert "<<" + _squash(name) + ">>" in text


def test_same_document_gives_same_bytes() -> None:
    def make() -> bytes:
        doc = Document(title="Same")
        doc.meta = {"byline": "b", "scope": [["a", "b"]], "abstract": ["x"]}
        doc.para("one ", strong("two"))
        doc.figure("f", _figure_svg(), ["A figure (ms)."])
        return compile_pdf(doc, "report", STAMP)

    assert make() == make()


def test_pdf_date_comes_from_the_given_time_not_the_clock() -> None:
    doc = Document(title="Dated")
    doc.meta = {"byline": "", "scope": [], "abstract": []}

    pdf = pypdf.PdfReader(io.BytesIO(compile_pdf(doc, "report", STAMP)))

    assert pdf.metadata is not None
    assert pdf.metadata.creation_date == STAMP


def test_citations_are_numbered_in_order_of_first_use() -> None:
    doc = Document(title="Cites")
    doc.para("a ", cite("zhu2016"), " b ", cite("rfc5280"), " c ", cite("zhu2016"))

    payload = doc.to_json()

    assert payload.index('"n": "1"') < payload.index('"n": "2"')
    assert '"n": "3"' not in payload


def test_unknown_citation_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="nosuchpaper"):
        cite("nosuchpaper")


def test_table_with_ragged_row_is_rejected() -> None:
    doc = Document(title="t")

    with pytest.raises(ValueError, match="row 1 has 1 cells"):
        doc.table(["a", "b"], [["1", "2"], ["3"]], ["c"])


def test_typst_errors_carry_the_diagnostic() -> None:
    doc = Document(title="t")
    doc.meta = {"recommendation": []}
    doc.blocks.append({"kind": "no-such-kind"})

    with pytest.raises(ReportBuildError, match="unknown block kind"):
        compile_pdf(doc, "briefing", STAMP)
