"""The report and the policy briefing: result tables laid out as PDFs with Typst.

`build_report` and `build_briefing` read a warehouse (and optionally the raw data
folder for provenance and calibration), write their figures as SVG and compile a
PDF whose bytes depend only on the data and the code.
"""

from certsentry_analysis.report.briefing_builder import build_briefing
from certsentry_analysis.report.report_builder import build_report

__all__ = ["build_briefing", "build_report"]
