"""facesearch report: the transparency report for a period, as HTML and JSON files."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from facesearch.cli.common import app, err, handled, open_engine, out
from facesearch.errors import InputError


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date (use YYYY-MM-DD)") from None


@app.command()
def report(
    start: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD, UTC).")],
    end: Annotated[str, typer.Option("--to", help="Last day of the period, included (YYYY-MM-DD, UTC).")],
    folder: Annotated[
        Path | None, typer.Option("--out", help="Folder for the files [default: ./transparency-FROM-TO].")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Also print the JSON to stdout (the file paths go to stderr).")
    ] = False,
) -> None:
    """Transparency report (admins and auditors): searches by purpose, nominations, confirmations
    and rejections, erasures, purges, opt-outs, refusals (audited, and the counted refusals of
    requests that named no one) and flags over whole UTC days, in aggregates only. Writes
    transparency.html and transparency.json; making it is audited."""
    from facesearch.reports.transparency import to_json, write_report

    with handled():
        first, last = _day(start, "--from"), _day(end, "--to")
        with open_engine() as engine:
            result = engine.transparency_report(first, last)
    html_path, json_path = write_report(result, folder or Path(f"transparency-{first}-{last}"))
    if json_out:
        sys.stdout.write(to_json(result) + "\n")
    console = err if json_out else out
    identify, verify = result.identify.total, result.verify.total
    console.print(
        f"transparency report {first} to {last}: {result.events} audit events, {identify} identify and "
        f"{verify} verify searches, {result.oversight.refusals} refusals, "
        f"{result.oversight.photos_refused} photos refused (audited); "
        f"{result.oversight.unattributed_refusals} refused requests that named no one (counted)",
        highlight=False,
    )
    console.print(f"wrote {html_path} and {json_path}", highlight=False)
