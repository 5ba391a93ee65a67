"""Reports on an annotated result: the data (`build_report`, also served as JSON) and one
self-contained HTML page (`render_html`) that opens offline."""

from slick_curator.reporting.data import build_report
from slick_curator.reporting.render import CSP, render_html

__all__ = ["CSP", "build_report", "render_html"]
