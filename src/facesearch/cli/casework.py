"""facesearch nominate / queue / confirm / reject / nominations / sweeps / export / cases: acting on a
candidate takes two separate confirmations, and only a case's members work it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from facesearch.cli.common import REQUIRED, SUBJECT_HELP, app, command_group, handled, open_engine, out, print_json

if TYPE_CHECKING:
    from facesearch.governance.membership import CaseFile

cases_app = command_group("Who works a case: its owner and the members they add.")
app.add_typer(cases_app, name="cases")


@app.command()
def nominate(
    search: Annotated[int, typer.Argument(help="The identify search's number (shown as 'search #N').")],
    subject: Annotated[str, typer.Argument(help="The candidate subject: " + SUBJECT_HELP)],
    face: Annotated[int, typer.Option(help="Which probe face (1 = the first).")] = 1,
) -> None:
    """Nominate a candidate of a search for confirmation by two other verifiers (operators)."""
    with handled(), open_engine() as engine:
        n = engine.cases.nominate(search, subject, face_index=face - 1)
    out.print(
        f"nomination #{n.nomination_id}: {n.subject} for case {n.case} (score {n.score:.4f}); it needs two "
        "separate confirmations by verifiers before anyone may act on it",
        highlight=False,
    )


@app.command()
def queue(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Nominations awaiting your decision (verifiers); you decide without seeing anyone else's decision."""
    with handled(), open_engine() as engine:
        items = engine.cases.queue()
    if json_out:
        print_json([n.to_dict() for n in items])
        return
    table = Table("nomination", "case", "purpose", "candidate", "score", "search", "nominated by", "on", "probe face")
    for n in items:
        table.add_row(
            str(n.nomination_id),
            n.case,
            n.purpose,
            n.subject,
            f"{n.score:.4f}",
            f"#{n.search_seq}",
            n.nominated_by,
            f"{n.nominated_at:%Y-%m-%d %H:%M}",
            "kept" if n.probe_kept else "not kept",
        )
    out.print(table)
    if items:
        out.print(
            "Compare each probe face with the candidate's enrolled faces before deciding: side by side on the "
            "web UI's /queue page ('facesearch serve'), or GET /api/nominations/N/probe and "
            "/api/faces/ID/thumbnail. Every view is audited.",
            highlight=False,
        )


@app.command()
def confirm(
    nomination: Annotated[int, typer.Argument(help="The nomination's number.")],
    note: Annotated[str | None, typer.Option(help="Why you confirm (kept with your decision).")] = None,
) -> None:
    """Confirm a nomination (verifiers): it becomes actionable once two verifiers have."""
    with handled(), open_engine() as engine:
        d = engine.cases.confirm(nomination, note=note)
    out.print(f"your confirmation of nomination #{d.nomination_id} is recorded (audit #{d.audit_seq})", highlight=False)


@app.command()
def reject(
    nomination: Annotated[int, typer.Argument(help="The nomination's number.")],
    reason: Annotated[str, typer.Option(help="Why you reject it." + REQUIRED)] = "",
) -> None:
    """Reject a nomination (verifiers); one rejection ends it."""
    with handled(), open_engine() as engine:
        d = engine.cases.reject(nomination, reason=reason)
    out.print(f"your rejection of nomination #{d.nomination_id} is recorded (audit #{d.audit_seq})", highlight=False)


@app.command()
def nominations(
    case: Annotated[str, typer.Argument(help="The case.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The nominations of a case and their status (operators, admins, auditors)."""
    with handled(), open_engine() as engine:
        items = engine.cases.case(case)
    if json_out:
        print_json([n.to_dict() for n in items])
        return
    table = Table("nomination", "candidate", "score", "search", "nominated by", "status")
    for n in items:
        table.add_row(
            str(n.nomination_id), n.subject, f"{n.score:.4f}", f"#{n.search_seq}", n.nominated_by, str(n.status)
        )
    out.print(table)


@app.command()
def sweeps(
    case: Annotated[str, typer.Argument(help="The case.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The collection sweeps kept in a case: each cluster's candidates and the search to nominate
    them from (operators, admins, auditors)."""
    from facesearch.cli.clustering import print_sweep

    with handled(), open_engine() as engine:
        kept = engine.cases.sweeps(case)
    if json_out:
        print_json([s.to_dict() for s in kept])
        return
    if not kept:
        out.print(f"case {case} has no collection sweep", highlight=False)
    for sweep in kept:
        print_sweep(sweep)


@app.command()
def export(
    case: Annotated[str, typer.Argument(help="The case whose confirmed identifications to export.")],
    nomination: Annotated[
        list[int] | None, typer.Option(help="Export only these nominations (each must be confirmed).")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON to this file [default: standard output].")
    ] = None,
) -> None:
    """Export a case's identifications confirmed by two verifiers, as JSON (operators)."""
    with handled(), open_engine() as engine:
        result = engine.cases.export(case, nominations=nomination)
    if out_file is None:
        print_json(result.to_dict())
        return
    import json

    out_file.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    out.print(f"{len(result.identifications)} confirmed identification(s) of case {case} written to {out_file}")


def _print_case(file: CaseFile) -> None:
    kept = f"until {file.retain_until:%Y-%m-%d}" if file.retain_until else "not kept (no retention period)"
    out.print(
        f"case {file.case}: owner {file.owner}, opened {file.opened_at:%Y-%m-%d}; probe faces {kept}", highlight=False
    )
    table = Table("member", "added by", "on")
    for m in file.members:
        table.add_row(m.user, m.added_by, f"{m.added_at:%Y-%m-%d %H:%M}")
    out.print(table)


@cases_app.command("add-member")
def cases_add_member(
    case: Annotated[str, typer.Argument(help="The case.")],
    user: Annotated[str, typer.Argument(help="The operator to add.")],
) -> None:
    """Let an operator work a case: search under it, nominate from its searches, read and export it
    (the case's owner or an admin)."""
    with handled(), open_engine() as engine:
        file = engine.cases.add_member(case, user)
    out.print(f"{user.strip()} is now a member of case {file.case}", highlight=False)


@cases_app.command("members")
def cases_members(
    case: Annotated[str, typer.Argument(help="The case.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Who owns and works a case (its members, admins, auditors)."""
    with handled(), open_engine() as engine:
        file = engine.cases.members(case)
    if json_out:
        print_json(file.to_dict())
        return
    _print_case(file)
