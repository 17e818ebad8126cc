"""Accuracy commands: evaluate, calibrate, model-card."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from platformdirs import user_cache_dir
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from facesearch.cli.common import app, current_settings, err, handled, open_engine, opts, out, print_json
from facesearch.storage.home import Home

if TYPE_CHECKING:
    from facesearch.evaluation import EmbeddingCache, EvaluationReport
    from facesearch.evaluation.extract import Progress as ProgressCallback

WorkersOption = Annotated[int | None, typer.Option(help="Processes that embed photos [default: all cores].")]
CacheOption = Annotated[Path | None, typer.Option(help="Embedding cache file [default: in the user's cache folder].")]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Embed every photo again.")]


def _cache(path: Path | None, disabled: bool) -> EmbeddingCache | None:
    from facesearch.evaluation import EmbeddingCache

    if disabled:
        return None
    return EmbeddingCache(path or Path(user_cache_dir("facesearch", appauthor=False)) / "embeddings.sqlite3")


@contextmanager
def _progress(quiet: bool) -> Iterator[ProgressCallback]:
    """A progress bar on stderr (photos embedded, time left) as a ``progress(done, total)``."""
    columns = (TextColumn("embedding photos"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=quiet) as bar:
        task = bar.add_task("embed", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, total=total, completed=done)

        yield update


def _render(report: EvaluationReport) -> None:
    from facesearch.evaluation.groups import shown

    r, v = report, report.verification
    out.print(
        f"{r.photos:,} photos of {r.identities:,} identities; model {r.model_id} ({r.metric.value}); "
        f"failures to acquire: {sum(r.failures_to_acquire.values())}",
        highlight=False,
    )
    table = Table("FAR", "threshold", "TAR [95% CI]", "supported", title="1:1 verification")
    for p in v.tar_at_far:
        table.add_row(
            f"{p.far:g}",
            f"{p.threshold:.4f}",
            p.tar.text(),
            "yes" if p.supported else "no (too few impostor pairs)",
        )
    out.print(table)
    out.print(
        f"EER {v.eer:.4f} at {v.eer_threshold:.4f}; {v.genuine_pairs:,} genuine and {v.impostor_pairs:,} "
        f"impostor pairs{' (sampled)' if v.impostor_pairs_sampled else ''}",
        highlight=False,
    )
    if r.pairs_protocol:
        pp = r.pairs_protocol
        out.print(
            f"pairs protocol ({pp.folds} folds, {pp.pairs} pairs): accuracy {pp.accuracy:.2%} ± {pp.std:.2%}",
            highlight=False,
        )
    if r.identification:
        i = r.identification
        table = Table(
            "FPIR", "threshold", "FNIR [95% CI]", "supported", title=f"1:N identification, N = {i.gallery_size:,}"
        )
        for q in i.fnir_at_fpir:
            table.add_row(
                f"{q.fpir:g}",
                f"{q.threshold:.4f}",
                q.fnir.text(),
                "yes" if q.supported else "no (too few non-mated searches)",
            )
        out.print(table)
        out.print(
            f"rank-1 {i.rank1.text()}; CMC " + ", ".join(f"rank {k}: {x:.4f}" for k, x in i.cmc.items()),
            highlight=False,
        )
        if i.at_gallery_sizes:
            table = Table(
                "gallery faces",
                "threshold",
                "predicted FPIR",
                "measured FPIR",
                "FNIR [95% CI]",
                title=f"identify's threshold for FPIR {i.at_gallery_sizes[0].target_fpir:g}, by gallery size "
                "(from this dataset's impostor pairs)",
            )
            for a in i.at_gallery_sizes:
                table.add_row(
                    f"{a.gallery_faces:,}",
                    f"{a.threshold:.4f}",
                    f"{a.predicted_fpir:.2g}" + ("" if a.measurable else " (target not measurable)"),
                    shown(a.measured_fpir, ".2g"),
                    a.fnir.text(),
                )
            out.print(table)
    if r.groups:
        g = r.groups

        def num(x: float | None) -> str:
            return shown(x, ".3g")

        table = Table(
            "group",
            "photos",
            "FMR",
            "ratio",
            "FNMR",
            "ratio",
            "threshold for target FMR",
            title=f"per group at threshold {g.threshold:.4f} (FMR {g.target_fmr:g} overall)",
        )
        for f in g.groups:
            table.add_row(
                f.group,
                str(f.photos),
                num(f.fmr),
                num(f.fmr_ratio),
                num(f.fnmr),
                num(f.fnmr_ratio),
                num(f.threshold_for_target_fmr),
            )
        out.print(table)
        out.print(
            f"largest ratio between groups: FMR {num(g.fmr_differential)}, FNMR {num(g.fnmr_differential)}",
            highlight=False,
        )


DatasetArgument = Annotated[Path, typer.Argument(help="Folder with one sub-folder of photos per identity.")]


@app.command("evaluate")
def evaluate_command(
    dataset: DatasetArgument,
    pairs: Annotated[Path | None, typer.Option(help="LFW-style pairs file: also report 10-fold accuracy.")] = None,
    groups: Annotated[
        list[str] | None,
        typer.Option(help="Group labels: FILE of 'name,group' lines, or LABEL=FILE listing names (repeatable)."),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write evaluation.html and evaluation.json here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    target_fmr: Annotated[float, typer.Option(help="Operating point for the per-group figures.")] = 1e-4,
    holdout: Annotated[float, typer.Option(help="Share of identities kept out of the 1:N gallery.")] = 0.2,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for the 95% intervals (0: none).")] = 100,
    seed: Annotated[int, typer.Option(help="Seed for sampling and the bootstrap.")] = 0,
    gallery_size: Annotated[
        list[int] | None,
        typer.Option(
            min=1, help="Also report identify's threshold and FNIR at a gallery of this many faces (repeatable)."
        ),
    ] = None,
    workers: WorkersOption = None,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Measure accuracy on a labelled dataset: 1:1, 1:N and per-group error rates."""
    from facesearch.evaluation import EvaluationOptions, evaluate, history
    from facesearch.extras import missing
    from facesearch.pipeline.recognizers import spec_for_settings
    from facesearch.pipeline.recognizers.registered import registered_models
    from facesearch.reports.evaluation import write_report

    settings = current_settings()
    sizes = tuple(gallery_size or ())
    options = EvaluationOptions(
        target_fmr=target_fmr,
        holdout=holdout,
        bootstrap=bootstrap,
        seed=seed,
        target_fpir=settings.target_fpir,
        gallery_sizes=sizes,
    )
    with handled(), _progress(json_out) as progress:
        result = evaluate(
            dataset,
            settings,
            spec=spec_for_settings(settings, registered_models(Home(opts.home).models_dir)),
            pairs_file=pairs,
            group_files=groups or (),
            cache=_cache(cache, no_cache),
            workers=workers or os.cpu_count() or 1,
            options=options,
            progress=progress,
        )
    summary = history.record(Home(opts.home).evaluations_dir, result)
    # The HTML report is kept beside its summary, where the web UI's evaluation page finds it, and
    # copied to --report (rendered once); a lean install without the figures' extra keeps the
    # summary only, and --report then names the extra it needs.
    kept = write_report(result, summary.with_suffix("")) if not missing("eval") else None
    if report:
        if kept is None:
            json_path, html_path = write_report(result, report)
        else:
            report.mkdir(parents=True, exist_ok=True)
            json_path, html_path = (report / path.name for path in kept)
            for path in kept:
                shutil.copy2(path, report / path.name)
        err.print(f"report written to {html_path} and {json_path}", highlight=False)
    if json_out:
        print_json(result.to_dict())
    else:
        _render(result)


@app.command("calibrate")
def calibrate_command(
    dataset: DatasetArgument,
    target_fmr: Annotated[float, typer.Option(help="The false-match rate the threshold must keep to.")] = 1e-4,
    groups: Annotated[
        list[str] | None,
        typer.Option(help="Group labels: FILE of 'name,group' lines, or LABEL=FILE listing names (repeatable)."),
    ] = None,
    worst_group: Annotated[
        bool,
        typer.Option(
            "--worst-group", help="Raise the threshold until every labelled group keeps to the target on its own."
        ),
    ] = False,
    workers: WorkersOption = None,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the calibration as JSON.")] = False,
) -> None:
    """Set the gallery's operating threshold from impostor scores measured on a labelled dataset."""
    from facesearch.evaluation.groups import shown
    from facesearch.scoring.calibration import OVERALL, WORST_GROUP

    with handled(), open_engine() as engine, _progress(json_out) as progress:
        c = engine.calibrate(
            dataset,
            target_fmr=target_fmr,
            workers=workers or os.cpu_count() or 1,
            cache=_cache(cache, no_cache),
            progress=progress,
            groups=groups or (),
            rule=WORST_GROUP if worst_group else OVERALL,
        )
    if json_out:
        print_json(c.to_dict())
        return
    out.print(
        f"operating threshold {c.threshold:.4f} for FMR {c.target_fmr:g} ({c.impostor_pairs:,} impostor pairs; "
        f"rule: {c.rule}); FNMR there {c.fnmr_at_threshold:.2%} ({c.genuine_pairs:,} genuine pairs); dataset "
        f"{c.dataset_sha256[:12]}; audit event #{c.audit_seq}",
        highlight=False,
    )
    if c.groups:
        assert c.overall_threshold is not None and c.fnmr_cost is not None
        out.print(
            f"the overall rule alone gives {c.overall_threshold:.4f}; this threshold costs {c.fnmr_cost:+.2%} FNMR",
            highlight=False,
        )
        table = Table("group", "impostor pairs", "FMR", "genuine pairs", "FNMR", "its own threshold")
        for g in c.groups:
            table.add_row(
                escape(g.group),
                f"{g.impostor_pairs:,}",
                shown(g.fmr, ".2g"),
                f"{g.genuine_pairs:,}",
                shown(g.fnmr, ".2%"),
                shown(g.own_threshold, ".4f"),
            )
        out.print(table)
    if c.one_to_n is not None:
        n = c.one_to_n
        out.print(
            f"identify (1:N) at this gallery's {n.gallery_faces:,} faces: threshold {n.threshold:.4f} for FPIR "
            f"{n.target_fpir:g} (expected {n.expected_fpir:.2g}"
            + ("" if n.measurable else "; the dataset is too small to measure the target at this size")
            + f"); {n.fnmr:.2%} of genuine pairs fall below it, a lower bound on the FNIR. The threshold follows "
            "the gallery's size at every search; verify keeps the 1:1 threshold above.",
            highlight=False,
        )


@app.command("model-card")
def model_card_command(
    json_out: Annotated[bool, typer.Option("--json", help="Print the model card as JSON.")] = False,
) -> None:
    """What the model is, where its weights come from, its licence, and what this tool measured."""
    from facesearch.evaluation import history
    from facesearch.pipeline.recognizers import spec_for_settings
    from facesearch.pipeline.recognizers.registered import registered_models
    from facesearch.reports.model_card import build_model_card

    settings = current_settings()
    home = Home(opts.home)
    calibration = None
    with handled():
        spec = spec_for_settings(settings, registered_models(home.models_dir))
        if home.exists():
            with open_engine() as engine:  # the calibration in force is for the gallery's users
                calibration = engine.calibration()
                spec = engine.spec  # the gallery's own recipe
        card = build_model_card(
            spec, latest_evaluation=history.latest(home.evaluations_dir, spec.model_id), calibration=calibration
        )
    if json_out:
        print_json(card.to_dict())
        return
    _render_card(card.to_dict())


def _render_card(card: dict[str, Any]) -> None:
    e = card["embedder"]
    out.print(Text.assemble((e["name"], "bold"), f" — recipe {card['model_id']}"))
    for label, key in (
        ("author", "author"),
        ("architecture", "architecture"),
        ("training data", "training"),
        ("licence", "licence"),
        ("published", "published_accuracy"),
    ):
        out.print(Text.assemble((label, "bold"), f": {e[key]}"))
    out.print(Text.assemble(("recipe", "bold"), f": {card['recipe']}"))
    out.print(Text.assemble(("weights", "bold"), f": {card['weights_package']}, sha256 {card['weights_sha256']}"))
    for line in card["companions"]:
        out.print(f"- {line}", highlight=False)
    for title, key in (
        ("registered from a local file (as its registrant stated)", "registration"),
        ("measured by facesearch on LFW (shipped)", "reference_measurement"),
        ("latest evaluation in this home", "latest_evaluation"),
        ("this gallery's calibration", "calibration"),
    ):
        data = card[key]
        if key == "registration" and not data:
            continue  # a built-in recognizer
        out.print(Text.assemble((title, "bold"), ": " + ("none" if not data else "")))
        if data:
            print_json(data)
    out.print(Text.assemble(("limits", "bold"), ":"))
    for line in card["limits"]:
        out.print(f"- {line}", highlight=False)
