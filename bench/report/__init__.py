"""Reports of run directories: tables, figures, ``summary.md`` and a self-contained HTML page.

Everything shown comes from the files of a run directory (``run.json``, ``records.jsonl``,
telemetry CSVs, ``.npy`` artifacts); nothing here imports torch.
"""

from bench.report.build import FORMATS, ReportPaths, parse_formats, write_report

__all__ = ["FORMATS", "ReportPaths", "parse_formats", "write_report"]
