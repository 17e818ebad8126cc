"""facesearch cluster DIR and facesearch clusters ...: group unknown faces, then correct the groups."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from facesearch.cli.common import (
    REQUIRED,
    RayOption,
    analysis_workers,
    app,
    command_group,
    handled,
    open_engine,
    out,
    print_json,
    use_ray,
)

if TYPE_CHECKING:
    from facesearch.clustering.rows import ClusterSummary
    from facesearch.governance.sweeps import CollectionSweep
    from facesearch.types import Candidate

clusters_app = command_group("Read and correct the clusters of a collection.")
app.add_typer(clusters_app, name="clusters")


def _table(rows: list[ClusterSummary], title: str) -> Table:
    table = Table(
        "cluster",
        "name",
        "faces",
        "face numbers",
        "seen in (a video's at the time of its frame; a photo's copies after it)",
        title=title,
    )
    for s in rows:
        faces = " ".join(str(f) for f in s.face_ids[:12]) + (" ..." if len(s.face_ids) > 12 else "")
        seen = s.seen or s.photos
        copies = s.copies if len(s.copies) == len(seen) else ((),) * len(seen)
        cited = [
            f"{where} (copies: {', '.join(also)})" if also else where for where, also in zip(seen, copies, strict=True)
        ]
        photos = ", ".join(cited[:3]) + (f" (+{len(cited) - 3})" if len(cited) > 3 else "")
        table.add_row(str(s.cluster_id), s.label or "-", str(s.size), faces, photos)
    return table


@app.command()
def cluster(
    directory: Annotated[
        Path,
        typer.Argument(help="Folder of photos and videos (searched recursively); a video adds a face per track."),
    ],
    purpose: Annotated[str | None, typer.Option(help="Why: a purpose the gallery allows (audited)." + REQUIRED)] = None,
    case: Annotated[str | None, typer.Option(help="Case or file reference (audited)." + REQUIRED)] = None,
    authorisation: Annotated[str | None, typer.Option(help="Authorisation reference, where required.")] = None,
    collection: Annotated[str | None, typer.Option(help="Collection name [default: the folder's name].")] = None,
    threshold: Annotated[float | None, typer.Option(help="Link score [default: setting cluster_threshold].")] = None,
    min_size: Annotated[int, typer.Option(help="Show clusters of at least this many faces.")] = 2,
    method: Annotated[
        str | None, typer.Option(help="chinese-whispers, connected-components or dbscan [default: chinese-whispers].")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Processes analysing photos [default: all cores].", show_default=False)
    ] = 0,
    ray: RayOption = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML contact sheet of the clusters here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Group the faces of a collection of photos and videos into people (operators)."""
    from facesearch.clustering.collections import DEFAULT_METHOD

    use_ray(ray)

    with handled(), open_engine() as engine, Progress(transient=True, disable=json_out) as progress:
        task = progress.add_task("analysing photos", total=None)
        result = engine.collections.cluster(
            directory,
            purpose=purpose or "",
            case=case or "",
            authorisation=authorisation,
            name=collection,
            threshold=threshold,
            min_size=min_size,
            method=method or DEFAULT_METHOD,
            workers=analysis_workers(workers or None, engine.settings),
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
        sheet = engine.collections.contact_sheet(result.collection, report, min_size=min_size) if report else None
    if json_out:
        print_json(result.to_dict())
        return
    out.print(
        f"collection {result.collection}: {result.photos} photos ({result.photos_embedded} analysed now), "
        f"{result.faces} faces in {len(result.clusters)} clusters of {min_size}+ faces and {result.singletons} "
        f"singletons; threshold {result.threshold:.4f} ({result.method}); kept until {result.retain_until}",
        highlight=False,
    )
    out.print(_table(list(result.clusters), "clusters (groups proposed by the machine, not identities)"))
    if result.photos_copied:
        out.print(
            f"{len(result.photos_copied)} files are copies of another photo (the same bytes, or re-saved, resized "
            "or bordered): each picture was analysed once, its faces are listed with their copies",
            highlight=False,
        )
    for name, reason in result.photos_rejected:
        out.print(Text.assemble(("skipped", "yellow"), f" {name}: {reason}"))
    if sheet:
        out.print(f"contact sheet: {sheet}", highlight=False)


@clusters_app.command("list")
def clusters_list(
    collection: Annotated[str, typer.Argument(help="Collection name or id.")],
    min_size: Annotated[int, typer.Option(help="Clusters of at least this many faces.")] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The clusters of a collection, largest first."""
    with handled(), open_engine() as engine:
        rows = engine.collections.clusters(collection, min_size=min_size)
    if json_out:
        print_json([r.to_dict() for r in rows])
        return
    out.print(_table(rows, f"collection {collection}"))


@clusters_app.command("merge")
def clusters_merge(
    a: Annotated[int, typer.Argument(help="Cluster that stays.")],
    b: Annotated[int, typer.Argument(help="Cluster whose faces join it.")],
) -> None:
    """Two clusters show one person; kept on every later run."""
    with handled(), open_engine() as engine:
        s = engine.collections.merge(a, b)
    out.print(f"cluster {s.cluster_id} now holds {s.size} faces", highlight=False)


@clusters_app.command("split")
def clusters_split(
    cluster_id: Annotated[int, typer.Argument(help="The cluster.")],
    faces: Annotated[list[int], typer.Argument(help="Face numbers that are another person.")],
) -> None:
    """Faces of a cluster are another person: they become their own cluster, kept apart on reruns."""
    with handled(), open_engine() as engine:
        s = engine.collections.split(cluster_id, faces)
    out.print(f"new cluster {s.cluster_id} with {s.size} faces", highlight=False)


@clusters_app.command("cannot-link")
def clusters_cannot_link(
    face_a: Annotated[int, typer.Argument(help="A face.")],
    face_b: Annotated[int, typer.Argument(help="Another face: never grouped with the first.")],
) -> None:
    """Two faces are different people (siblings, look-alikes): never group them."""
    with handled(), open_engine() as engine:
        engine.collections.cannot_link(face_a, face_b)
    out.print(f"faces {face_a} and {face_b} will never be grouped", highlight=False)


@clusters_app.command("name")
def clusters_name(
    cluster_id: Annotated[int, typer.Argument(help="The cluster.")],
    label: Annotated[str, typer.Argument(help="A working name for it.")],
) -> None:
    """Name a cluster; the name follows its faces when the collection is clustered again."""
    with handled(), open_engine() as engine:
        s = engine.collections.name(cluster_id, label)
    out.print(f"cluster {s.cluster_id} is named {s.label!r}", highlight=False)


@clusters_app.command("search")
def clusters_search(
    cluster_id: Annotated[int, typer.Argument(help="The cluster.")],
    purpose: Annotated[str | None, typer.Option(help="Why: a purpose the gallery allows (audited)." + REQUIRED)] = None,
    case: Annotated[str | None, typer.Option(help="Case or file reference (audited)." + REQUIRED)] = None,
    authorisation: Annotated[str | None, typer.Option(help="Authorisation reference, where required.")] = None,
    top: Annotated[int | None, typer.Option("--top", help="Candidates [default: setting top_k].")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Search a cluster (all its faces, fused) against the gallery; prints candidates (operators)."""
    from facesearch.types import SearchRequest

    with handled(), open_engine() as engine:
        result = engine.identify_cluster(cluster_id, SearchRequest(purpose or "", case or "", authorisation, top))
    if json_out:
        print_json(result.to_dict())
        return
    out.print(Text(result.notice, style="bold"))
    out.print(
        f"cluster {result.cluster_id} ({result.faces} faces fused); gallery of {result.gallery_size} faces; "
        f"threshold {result.threshold.score:.4f} ({result.threshold.source}); search #{result.audit_seq}",
        highlight=False,
    )
    out.print(Text(result.threshold.meaning))
    out.print(_candidates(result.candidates))


def _candidates(candidates: tuple[Candidate, ...], title: str | None = None) -> Table:
    table = Table(
        "rank",
        "candidate subject",
        "score",
        "clears threshold",
        "how often a different person scores this high",
        title=title,
    )
    for c in candidates:
        table.add_row(str(c.rank), c.subject, f"{c.score:.4f}", "yes" if c.clears_threshold else "no", c.fmr_meaning)
    return table


@clusters_app.command("search-all")
def clusters_search_all(
    collection: Annotated[str, typer.Argument(help="Collection name or id.")],
    purpose: Annotated[str | None, typer.Option(help="Why: a purpose the gallery allows (audited)." + REQUIRED)] = None,
    case: Annotated[str | None, typer.Option(help="The collection's case (audited)." + REQUIRED)] = None,
    authorisation: Annotated[str | None, typer.Option(help="Authorisation reference, where required.")] = None,
    top: Annotated[int | None, typer.Option("--top", help="Candidates per cluster [default: setting top_k].")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Search every cluster of a collection (singletons too) against the gallery in one step; the
    candidates are kept in the case, per cluster, to nominate from (operators). Each cluster's search
    counts against your search quota; a sweep that would pass it is refused before any search."""
    from facesearch.types import SearchRequest

    wanted = SearchRequest(purpose or "", case or "", authorisation, top)
    with handled(), open_engine() as engine, Progress(transient=True, disable=json_out) as progress:
        task = progress.add_task("searching clusters", total=None)
        sweep = engine.identify_collection(
            collection, wanted, on_progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    if json_out:
        print_json(sweep.to_dict())
        return
    print_sweep(sweep)


def print_sweep(sweep: CollectionSweep) -> None:
    """A sweep as the terminal shows it: what it was bound to, then each cluster's candidates."""
    out.print(Text(sweep.notice, style="bold"))
    above = sum(1 for c in sweep.clusters if any(x.clears_threshold for x in c.candidates))
    out.print(
        f"sweep #{sweep.sweep_id} of collection {sweep.collection} for case {sweep.case} ({sweep.purpose}) by "
        f"{sweep.swept_by}, {sweep.swept_at:%Y-%m-%d %H:%M} UTC: {len(sweep.clusters)} clusters searched, "
        f"{above} with a candidate above the threshold; gallery of {sweep.gallery_size} faces; threshold "
        f"{sweep.threshold.score:.4f} ({sweep.threshold.source}); audit #{sweep.audit_seq}",
        highlight=False,
    )
    out.print(Text(sweep.threshold.meaning))
    for c in sweep.clusters:
        name = f" {c.label!r}" if c.label else ""
        title = f"cluster {c.cluster_id}{name} ({c.faces} faces fused): search #{c.search_seq}"
        out.print(_candidates(c.candidates, title))
    out.print(
        "nominate a candidate with: facesearch nominate SEARCH SUBJECT (the cluster's search number)", highlight=False
    )


@clusters_app.command("report")
def clusters_report(
    collection: Annotated[str, typer.Argument(help="Collection name or id.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for index.html.")],
    min_size: Annotated[int, typer.Option(help="Clusters of at least this many faces.")] = 1,
) -> None:
    """Write an HTML contact sheet of the collection's clusters (audited: it shows faces)."""
    with handled(), open_engine() as engine:
        path = engine.collections.contact_sheet(collection, out_dir, min_size=min_size)
    out.print(f"contact sheet: {path}", highlight=False)


@clusters_app.command("delete")
def clusters_delete(
    collection: Annotated[str, typer.Argument(help="Collection name or id.")],
    reason: Annotated[str, typer.Option(help="Why (audited)." + REQUIRED)] = "",
) -> None:
    """Erase a collection physically: faces, crops, clusters, decisions (admins)."""
    with handled(), open_engine() as engine:
        faces = engine.collections.delete(collection, reason=reason)
    out.print(f"collection {collection} erased: {faces} faces removed", highlight=False)
