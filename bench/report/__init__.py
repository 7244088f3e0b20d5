"""Reports of run directories: tables, figures, ``summary.md`` and a self-contained HTML page.

Everything shown comes from what run directories hold, read through
``bench.results.rundir``; nothing here imports torch.
"""

from bench.report.build import FORMATS, REPORT_ENTRIES, ReportPaths, parse_formats, write_report

__all__ = ["FORMATS", "REPORT_ENTRIES", "ReportPaths", "parse_formats", "write_report"]
