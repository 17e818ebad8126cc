"""Gallery commands: enroll, identify, verify, subjects, erase, settings, audit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from facesearch.cli.common import (
    BASIS_HELP,
    REQUIRED,
    SUBJECT_HELP,
    RayOption,
    analysis_workers,
    app,
    audit_app,
    current_settings,
    err,
    handled,
    index_app,
    open_engine,
    out,
    print_json,
    use_ray,
)
from facesearch.config import Settings
from facesearch.errors import AnalysisLostError

if TYPE_CHECKING:
    from facesearch.types import EnrollProgress, IdentifyResult


@app.command()
def enroll(
    photos: Annotated[list[Path], typer.Argument(help="Photos of one person, each showing exactly one face.")],
    subject: Annotated[str | None, typer.Option(help="Name of the person the photos show." + REQUIRED)] = None,
    source: Annotated[str | None, typer.Option(help="Where the photos came from." + REQUIRED)] = None,
    basis: Annotated[str | None, typer.Option(help=BASIS_HELP + REQUIRED)] = None,
    retain_until: Annotated[
        str | None, typer.Option(help="Delete after this date (YYYY-MM-DD) [default: kept for the retention period].")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Enroll photos of one subject. All are checked first; if any is refused, none is stored."""
    with handled(), open_engine() as engine:
        result = engine.enroll(
            photos, subject=subject or "", source=source or "", basis=basis or "", retain_until=retain_until
        )
    if json_out:
        print_json(result.to_dict())
        return
    for image in result.images:
        out.print(f"{image.status.value}: {image.name} -> {result.subject} (face {image.face_id})", highlight=False)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f} photos/s" if task.speed else "- photos/s")


@app.command("enroll-dir")
def enroll_dir(
    directory: Annotated[Path, typer.Argument(help="A folder with one sub-folder of photos per subject.")],
    source: Annotated[str | None, typer.Option(help="Where the photos came from." + REQUIRED)] = None,
    basis: Annotated[str | None, typer.Option(help=BASIS_HELP + REQUIRED)] = None,
    retain_until: Annotated[
        str | None, typer.Option(help="Delete after this date (YYYY-MM-DD) [default: kept for the retention period].")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Processes analysing photos [default: all cores].")] = None,
    ray: RayOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Enroll DIR/<subject>/<photo>: one subject per sub-folder, named after it. Resumable: a rerun
    skips photos already enrolled and finishes the rest (photos a lost Ray worker left 'analysis-lost')."""
    use_ray(ray)
    columns = (TextColumn("enrolling"), BarColumn(), MofNCompleteColumn(), _RateColumn(), TimeRemainingColumn())
    with handled(), open_engine() as engine, Progress(*columns, console=err, transient=json_out) as progress:
        task = progress.add_task("enroll", total=None)

        def on_progress(p: EnrollProgress) -> None:
            progress.update(task, total=p.total, completed=p.done)

        result = engine.enroll_directory(
            directory,
            source=source or "",
            basis=basis or "",
            retain_until=retain_until,
            on_progress=on_progress,
            workers=analysis_workers(workers, engine.settings),
        )
    if json_out:
        print_json(result.to_dict() | {"rejected_by_reason": result.rejected_by_reason()})
        return
    out.print(
        f"{result.enrolled} faces enrolled for {result.subjects} subjects; "
        f"{result.already_enrolled} already enrolled; {len(result.rejected)} images rejected"
    )
    if result.rejected:
        table = Table("reason", "images", title="rejected images by reason")
        for reason, count in result.rejected_by_reason().items():
            table.add_row(reason, str(count))
        out.print(table)
    lost = result.rejected_by_reason().get(AnalysisLostError.code)
    if lost:
        out.print(
            f"{lost} photos were lost with a Ray worker that stopped; nothing of them was stored: run the same "
            "command again to enroll them"
        )


AUTHORISATION = typer.Option(
    help="Authorisation reference (a warrant or approval number): required for some purposes, audited."
)


@app.command()
def identify(
    probe: Annotated[
        Path,
        typer.Argument(
            help="Photo or video (mp4, mov, mkv, avi, webm) to search; every face in it is searched, a video's "
            "per track (a face followed across its frames), cited by its time in the video."
        ),
    ],
    purpose: Annotated[
        str | None, typer.Option(help="Why this search is run: a purpose the gallery allows (audited)." + REQUIRED)
    ] = None,
    case: Annotated[str | None, typer.Option(help="Case or file reference (audited)." + REQUIRED)] = None,
    authorisation: Annotated[str | None, AUTHORISATION] = None,
    top: Annotated[int | None, typer.Option("--top", help="Candidates per face [default: setting top_k].")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """1:N search of a probe photo or video against the gallery; prints candidates, never identities."""
    from facesearch.types import SearchRequest

    with handled(), open_engine() as engine:
        result = engine.identify(probe, SearchRequest(purpose or "", case or "", authorisation, top))
    if json_out:
        print_json(result.to_dict())
    else:
        _render_identify(result)


def _render_identify(result: IdentifyResult) -> None:
    from facesearch.pipeline.video import timecode

    out.print(Text(result.notice, style="bold"))
    out.print(
        f"model {result.model_id}; gallery of {result.gallery_size} faces; threshold score "
        f"{result.threshold.score:.4f} ({result.threshold.source}); search #{result.audit_seq} "
        f"(nominate a candidate with: facesearch nominate {result.audit_seq} SUBJECT)",
        highlight=False,
    )
    out.print(Text(result.threshold.meaning))
    for number, face in enumerate(result.faces, start=1):
        box = face.box
        title = f"probe face {number} at ({box.left},{box.top})-({box.right},{box.bottom}), {face.quality.face_px} px"
        if face.seen_at is not None and face.start_s is not None and face.end_s is not None:
            title = (
                f"probe face {number}, seen at {face.seen_at} (followed from {timecode(face.start_s)} to "
                f"{timecode(face.end_s)}) at ({box.left},{box.top})-({box.right},{box.bottom}), "
                f"{face.quality.face_px} px"
            )
        table = Table(
            "rank",
            "candidate subject",
            "score",
            "clears threshold",
            "how often a different person scores this high",
            title=title,
        )
        for c in face.candidates:
            table.add_row(
                str(c.rank), c.subject, f"{c.score:.4f}", "yes" if c.clears_threshold else "no", c.fmr_meaning or "-"
            )
        out.print(table)
        if not face.candidates:
            out.print("  (the gallery is empty)")
        for warning in face.warnings:
            out.print(Text.assemble("  ", ("warning", "yellow"), f": {warning}"))
    out.print(Text(result.threshold.meaning, style="dim"))


@app.command()
def verify(
    photo_a: Annotated[Path, typer.Argument(help="First photo.")],
    photo_b: Annotated[Path, typer.Argument(help="Second photo.")],
    purpose: Annotated[
        str | None, typer.Option(help="Why this comparison is run: a purpose the gallery allows (audited)." + REQUIRED)
    ] = None,
    case: Annotated[str | None, typer.Option(help="Case or file reference (audited)." + REQUIRED)] = None,
    authorisation: Annotated[str | None, AUTHORISATION] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """1:1 comparison of the main face of two photos."""
    from facesearch.types import SearchRequest

    with handled(), open_engine() as engine:
        result = engine.verify(photo_a, photo_b, SearchRequest(purpose or "", case or "", authorisation))
    if json_out:
        print_json(result.to_dict())
        return
    verdict = "likely the same person" if result.same_person else "likely different people"
    out.print(
        f"score {result.score:.4f} (threshold {result.threshold.score:.4f}, {result.threshold.source}): {verdict}",
        highlight=False,
    )
    if result.fmr_meaning:
        out.print(f"at this score, {result.fmr_meaning}", highlight=False)
    for warning in result.warnings:
        out.print(Text.assemble(("warning", "yellow"), f": {warning}"))
    out.print(Text(result.threshold.meaning, style="dim"))


@app.command()
def subjects(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """List enrolled subjects."""
    with handled(), open_engine() as engine:
        rows = engine.subjects()
    if json_out:
        print_json([r.to_dict() for r in rows])
        return
    table = Table("subject", "id", "images", "faces", "retain until")
    for r in rows:
        table.add_row(r.name, r.subject_id, str(r.images), str(r.faces), str(r.retain_until or "-"))
    out.print(table)


@app.command("subject-report")
def subject_report(
    subject: Annotated[str, typer.Argument(help=SUBJECT_HELP)],
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Everything held about a subject and every search that returned them (a subject access request)."""
    with handled(), open_engine() as engine:
        report = engine.subject_report(subject)
    if json_out:
        print_json(report.to_dict())
        return
    out.print(
        f"{report.name} (subject {report.subject_id}), enrolled since {report.created_at:%Y-%m-%d}", highlight=False
    )
    images = Table("image sha256", "file", "source", "lawful basis", "enrolled", "by", "retain until", "faces")
    for i in report.images:
        images.add_row(
            i.sha256[:16],
            i.filename,
            i.source,
            i.lawful_basis,
            f"{i.enrolled_at:%Y-%m-%d}",
            i.enrolled_by,
            str(i.retain_until or "-"),
            str(i.faces),
        )
    out.print(images)
    searches = Table("audit #", "when", "who", "purpose", "case", "rank", "score")
    for a in report.appearances:
        searches.add_row(
            str(a.audit_seq),
            f"{a.ts:%Y-%m-%d %H:%M}",
            a.actor,
            a.purpose or "-",
            a.case or "-",
            str(a.rank),
            f"{a.score:.4f}",
        )
    out.print(f"returned as a candidate by {len(report.appearances)} search(es):", highlight=False)
    out.print(searches)
    for n in report.nominations:
        out.print(
            f"nominated (#{n.nomination_id}) from search #{n.search_seq} for case {n.case} by {n.nominated_by} "
            f"on {n.nominated_at:%Y-%m-%d}: {n.status}",
            highlight=False,
        )
    for h in report.legal_holds:
        state = f"released {h.released_at:%Y-%m-%d}" if h.released_at else "active"
        out.print(
            f"legal hold {h.reference!r} placed {h.placed_at:%Y-%m-%d} by {h.placed_by}: {state}", highlight=False
        )


@app.command()
def erase(
    subject: Annotated[str, typer.Argument(help=SUBJECT_HELP)],
    reason: Annotated[str | None, typer.Option(help="Why the subject is erased (audited)." + REQUIRED)] = None,
) -> None:
    """Erase a subject physically: rows, templates, crops and index entries."""
    with handled(), open_engine() as engine:
        result = engine.erase(subject, reason=reason or "")
    out.print(
        f"erased subject id:{result.subject_id}: {result.images_removed} images, {result.faces_removed} faces, "
        f"{result.index_entries_removed} index entries; audit event #{result.audit_seq}",
        highlight=False,
    )


@index_app.command("status")
def index_status() -> None:
    """Show the vector index: backend, faces, the gallery generation it reflects (rebuilt if stale)."""
    with handled(), open_engine() as engine:
        info = engine.index_info()
    out.print(
        f"{info.backend} index of {info.size} faces, model {info.model_id} ({info.dimension}-d, "
        f"{info.metric.value}), in step with gallery generation {info.generation}",
        highlight=False,
    )


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Rebuild the vector index from the gallery's stored embeddings."""
    with handled(), open_engine() as engine:
        info = engine.rebuild_index()
    out.print(f"rebuilt the {info.backend} index: {info.size} faces, generation {info.generation}", highlight=False)


@app.command("settings")
def show_settings() -> None:
    """Show every setting with its value and meaning (set them in HOME/facesearch.toml)."""
    with handled():
        current = current_settings()
    table = Table("setting", "value", "meaning")
    for name, (_default, doc) in Settings.documentation().items():
        table.add_row(name, str(getattr(current, name)), doc)
    out.print(table)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 and name the first bad event if anything was altered."""
    with handled(), open_engine() as engine:
        report = engine.audit_verify()
    if report.ok:
        out.print(f"audit chain intact: {report.events} events")
        return
    err.print(Text.assemble(("audit chain broken", "bold red"), f" at event #{report.first_bad_seq}: {report.problem}"))
    raise typer.Exit(1)


@audit_app.command("show")
def audit_show(
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. search.identify.")] = None,
    case: Annotated[str | None, typer.Option(help="Only events of this case.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show audit events, oldest first."""
    from facesearch.governance.audit import summary as event_summary

    with handled(), open_engine() as engine:
        events = engine.audit_events(action=action, case=case)
    if json_out:
        print_json([e.to_dict() for e in events])
        return
    table = Table("#", "time (UTC)", "actor", "action", "purpose", "case", "details")
    for e in events:
        table.add_row(
            str(e.seq),
            e.ts.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.purpose or "",
            e.case or "",
            event_summary(e.details),
        )
    out.print(table)
