"""Run reports: ``report.json`` for machines, ``report.md`` for people."""

from .build import build_report, render_markdown

__all__ = ["build_report", "render_markdown"]
