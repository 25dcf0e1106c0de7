"""Run reports: ``report.json`` for machines, ``report.md`` and ``report.html`` for people."""

from .build import build_report, render_markdown
from .html import rebuild_report, render_html, write_html_report

__all__ = ["build_report", "rebuild_report", "render_html", "render_markdown", "write_html_report"]
