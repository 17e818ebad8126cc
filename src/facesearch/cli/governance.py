"""facesearch purposes / retention / purge / hold / release / opt-out: the gallery's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from facesearch.cli.common import REQUIRED, SUBJECT_HELP, app, command_group, handled, open_engine, out, print_json

purposes_app = command_group("The purposes searches of this gallery may serve.")
retention_app = command_group("How long the gallery keeps photos.")
app.add_typer(purposes_app, name="purposes")
app.add_typer(retention_app, name="retention")


@purposes_app.command("add")
def purposes_add(
    name: Annotated[str, typer.Argument(help="The purpose, as searches will name it.")],
    require_authorisation: Annotated[
        bool, typer.Option(help="Searches for it must carry an authorisation reference (a warrant, an approval).")
    ] = False,
) -> None:
    """Allow searches for a purpose (admins)."""
    with handled(), open_engine() as engine:
        p = engine.purposes.add(name, require_authorisation=require_authorisation)
    needs = " (an authorisation reference is required)" if p.require_authorisation else ""
    out.print(f"searches may now serve {p.name!r}{needs}", highlight=False)


@purposes_app.command("remove")
def purposes_remove(name: Annotated[str, typer.Argument(help="The purpose.")]) -> None:
    """Stop allowing searches for a purpose (admins)."""
    with handled(), open_engine() as engine:
        engine.purposes.remove(name)
    out.print(f"searches may no longer serve {name!r}", highlight=False)


@purposes_app.command("list")
def purposes_list(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """The purposes searches may serve."""
    with handled(), open_engine() as engine:
        items = engine.purposes.list()
    if json_out:
        print_json([p.to_dict() for p in items])
        return
    table = Table("purpose", "authorisation required", "added", "by")
    for p in items:
        table.add_row(p.name, "yes" if p.require_authorisation else "no", f"{p.added_at:%Y-%m-%d}", p.added_by)
    out.print(table)


@retention_app.command("set")
def retention_set(days: Annotated[int, typer.Option(help="Keep each photo at most this many days.")]) -> None:
    """Set the retention period (admins). The gallery takes no enrollment before it has one."""
    with handled(), open_engine() as engine:
        dated = engine.retention.set_period(days)
    out.print(f"retention period: {days} days; {dated} earlier photo(s) dated from their enrollment", highlight=False)


@retention_app.command("show")
def retention_show() -> None:
    """Show the retention period and the active legal holds."""
    with handled(), open_engine() as engine:
        days = engine.retention.period()
    out.print(
        f"retention period: {days} days" if days else "no retention period: enrollment is refused until one is set"
    )


@app.command()
def purge(
    reason: Annotated[str, typer.Option(help="Why (recorded in the certificate).")] = "retention period expired",
    json_out: Annotated[bool, typer.Option("--json", help="Print the certificate as JSON.")] = False,
) -> None:
    """Destroy every photo past its retain-until date now (admins); it also runs on every open."""
    with handled(), open_engine() as engine:
        cert = engine.retention.purge(reason=reason)
    if json_out:
        print_json(cert.to_dict())
        return
    out.print(
        f"destruction certificate (audit #{cert.audit_seq}): {cert.images_removed} image(s), {cert.faces_removed} "
        f"face(s), {cert.index_entries_removed} index entr(ies) and {cert.subjects_removed} subject(s) destroyed; "
        f"{cert.held_images_kept} expired image(s) kept under legal hold; {cert.probe_faces_removed} probe face(s) "
        f"of {len(cert.probe_cases)} dormant case(s) destroyed",
        highlight=False,
    )


@app.command()
def hold(
    subject: Annotated[str, typer.Argument(help=SUBJECT_HELP)],
    reference: Annotated[str, typer.Option(help="The hold's reference, e.g. a court order number." + REQUIRED)] = "",
) -> None:
    """Place a legal hold: the subject's data is neither purged nor erased until released (admins)."""
    with handled(), open_engine() as engine:
        h = engine.retention.hold(subject, reference=reference)
    out.print(f"legal hold #{h.hold_id} on {h.subject} ({h.reference})", highlight=False)


@app.command()
def release(
    subject: Annotated[str, typer.Argument(help=SUBJECT_HELP)],
    reference: Annotated[str, typer.Option(help="The reference of the hold to release." + REQUIRED)] = "",
) -> None:
    """Release a legal hold (admins)."""
    with handled(), open_engine() as engine:
        engine.retention.release(subject, reference=reference)
    out.print(f"released the hold {reference!r} on {subject}", highlight=False)


@app.command()
def holds(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Active legal holds (admins, auditors)."""
    with handled(), open_engine() as engine:
        items = engine.retention.holds()
    if json_out:
        print_json([h.to_dict() for h in items])
        return
    table = Table("hold", "subject", "reference", "placed", "by")
    for h in items:
        table.add_row(str(h.hold_id), h.subject, h.reference, f"{h.placed_at:%Y-%m-%d}", h.placed_by)
    out.print(table)


@app.command("opt-out")
def opt_out(
    photo: Annotated[Path, typer.Argument(help="A photo of the person (exactly one usable face).")],
    request: Annotated[str, typer.Option(help="The reference of the person's request." + REQUIRED)] = "",
) -> None:
    """Put a person on the do-not-enroll list (enrollers): only their template is kept, no name."""
    with handled(), open_engine() as engine:
        o = engine.opt_outs.record(photo, request_ref=request)
    out.print(
        f"opt-out #{o.opt_out_id} recorded ({o.request_ref}): this face will not be enrolled nor returned by searches",
        highlight=False,
    )


@app.command("opt-outs")
def opt_outs(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """The do-not-enroll list: references and dates, never faces."""
    with handled(), open_engine() as engine:
        items = engine.opt_outs.list()
    if json_out:
        print_json([o.to_dict() for o in items])
        return
    table = Table("opt-out", "request", "recorded", "by")
    for o in items:
        table.add_row(str(o.opt_out_id), o.request_ref, f"{o.recorded_at:%Y-%m-%d}", o.recorded_by)
    out.print(table)
