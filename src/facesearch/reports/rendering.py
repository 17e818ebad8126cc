"""Every report page is rendered here: one Jinja environment over ``reports/templates`` and the
product's one stylesheet.

Pages written to disk (the transparency report, the evaluation report, a collection's contact
sheet) must stay self-contained, so they carry the stylesheet's text inline; the web UI serves the
same file, :data:`STYLESHEET`, at ``/static/facesearch.css``. Templates autoescape everything they
are given, so a purpose, a file name or a group label from a user or a dataset is shown as text,
never markup; a value a template does not know is an error, never an empty string.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STYLESHEET = HERE / "static" / "facesearch.css"


@functools.cache
def stylesheet() -> Markup:
    """The stylesheet's text, inlined as it is in a page's style element (CSS, not HTML: not escaped;
    it holds no ``</``, which would end the element, and a test keeps it so)."""
    return Markup(STYLESHEET.read_text(encoding="utf-8"))


@functools.cache
def environment() -> jinja2.Environment:
    """The one environment for report templates: autoescaped, strict about unknown names.

    Filters: ``fmt`` formats a value with a format spec, as ``format()`` does (``n | fmt(",")``
    gives ``1,234``); ``json`` writes a value as JSON (then escaped like any text).
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = format
    env.filters["json"] = json.dumps
    return env


def render(template: str, **context: Any) -> str:
    """The page TEMPLATE (a file name in ``reports/templates``) rendered with CONTEXT and the stylesheet."""
    return environment().get_template(template).render(stylesheet=stylesheet(), **context)
