"""The results layer: typed run records, statistics, table and figure kinds, markdown and HTML.

Torch-free by design (a test checks that importing it loads no torch): a report is a pure function
of the result store. Modules, each one noun:

* :mod:`~ganzoo.report.records` -- :class:`RunRecord` / :class:`MetricName`, read once from the store;
* :mod:`~ganzoo.report.stats` -- medians over seeds, best-of, reductions, paired wins, mean ± std;
* :mod:`~ganzoo.report.kinds` -- what a table kind returns (:class:`Rows`) and the protocol check;
* :mod:`~ganzoo.report.markdown` -- number formats and the markdown table;
* :mod:`~ganzoo.report.figures` -- matplotlib figures saved atomically;
* :mod:`~ganzoo.report.suite_report` -- a suite's header, tables and figures -> ``results/<suite>.md``;
* :mod:`~ganzoo.report.html` -- the static HTML pages (``results/index.html``, one per suite).

Table kinds themselves are plugins (``register_tables``): the self-modulation kinds live in
``ganzoo_selfmod``, the PGGAN and BigGAN kinds in theirs.
"""

from ganzoo.report.kinds import Context, FigureSpec, KindSpec, MixedProtocols, NotAvailable, Rows
from ganzoo.report.markdown import DASH, DIVERGED_MARK, cell_text, fmt, fmt_p, fmt_range, render_table
from ganzoo.report.records import MetricName, MetricValue, RunRecord, coerce, load_records
from ganzoo.report.suite_report import header, validate_kinds, write_suite_report

__all__ = [
    "DASH", "DIVERGED_MARK", "Context", "FigureSpec", "KindSpec", "MetricName", "MetricValue",
    "MixedProtocols", "NotAvailable", "Rows", "RunRecord", "cell_text", "coerce", "fmt", "fmt_p",
    "fmt_range", "header", "load_records", "render_table", "validate_kinds", "write_suite_report",
]
