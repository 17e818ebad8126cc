"""facesearch models ...: face models registered from local ONNX files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from facesearch.cli.common import app, command_group, current_settings, handled, open_engine, opts, out, print_json
from facesearch.storage.home import Home

models_app = command_group("Face models registered from local ONNX files.")
app.add_typer(models_app, name="models")


@models_app.command("register")
def models_register(
    name: Annotated[str, typer.Argument(help="A name for the model (lower case); the setting 'recognizer' uses it.")],
    file: Annotated[Path, typer.Argument(help="The ONNX file: input (n, 3, 112, 112), an ArcFace-aligned chip.")],
    licence: Annotated[str, typer.Option(help="Under which licence or agreement you may use this model.")],
    threshold: Annotated[float, typer.Option(help="Operating threshold on the score (higher = more alike).")],
    threshold_source: Annotated[str, typer.Option(help="Where that threshold comes from (e.g. the vendor's sheet).")],
    colour: Annotated[str, typer.Option(help="Channel order the model takes: rgb or bgr.")] = "rgb",
    mean: Annotated[float, typer.Option(help="Input = (pixel - mean) / std.")] = 127.5,
    std: Annotated[float, typer.Option(help="Input = (pixel - mean) / std.")] = 127.5,
    metric: Annotated[str, typer.Option(help="How embeddings are compared: cosine or euclidean.")] = "cosine",
    mirror: Annotated[bool, typer.Option(help="Average each face's embedding with its mirror image's.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the registration as JSON.")] = False,
) -> None:
    """Register an ArcFace-class ONNX model; its SHA-256 is recorded and checked at every load."""
    from facesearch import lifecycle as core

    options: dict[str, Any] = {
        "name": name,
        "licence": licence,
        "threshold": threshold,
        "threshold_source": threshold_source,
        "colour_order": colour,
        "mean": mean,
        "std": std,
        "metric": metric,
        "mirror_average": mirror,
    }
    with handled():
        settings = current_settings()
        if Home(opts.home).exists(settings.database_url):  # a gallery's admin registers, with their own token
            with open_engine() as engine:
                model = engine.register_model(file, **options)
        else:  # a home without a gallery yet: like init, a bootstrapping step of whoever sets it up
            model = core.register_model(opts.home, file, settings=settings, **options)
    if json_out:
        print_json(model.to_dict())
        return
    out.print(
        f"registered {model.name}: model id {model.model_id}, {model.dimension}-d, sha256 {model.sha256}; "
        f"a new gallery uses it with --recognizer {model.name}",
        highlight=False,
    )


@models_app.command("list")
def models_list(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """The models registered in this home (the built-in recognizers, sface and dlib, are not listed)."""
    from facesearch.pipeline.recognizers.registered import registered_models

    with handled():
        current_settings()  # a malformed settings file is reported here too
        models = registered_models(Home(opts.home).models_dir)
    if json_out:
        print_json([m.to_dict() for m in models.values()])
        return
    table = Table("name", "model id", "dimension", "licence", "registered")
    for m in models.values():
        table.add_row(
            m.name, m.model_id, str(m.dimension), m.licence, f"{m.registered_at:%Y-%m-%d} by {m.registered_by}"
        )
    out.print(table)


@models_app.command("move")
def models_move(
    photos: Annotated[
        Path, typer.Argument(help="Folder holding the gallery's enrolled photos (any layout; found by SHA-256).")
    ],
    to: Annotated[str, typer.Option(help="The recognizer to move to: sface, dlib or a registered model's name.")],
    accept_losses: Annotated[
        bool,
        typer.Option(
            "--accept-losses",
            help="Erase the subjects whose photos are missing (each audited as an erasure) instead of refusing.",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make every template again with another model from the enrolled photos, and destroy the old
    ones (admins). A subject any of whose photos is missing is refused and listed, and nothing
    changes, unless you accept losing it."""
    with handled(), open_engine() as engine:
        result = engine.move_model(photos, to=to, accept_losses=accept_losses)
    if json_out:
        print_json(result.to_dict())
        return
    out.print(
        f"moved {result.subjects_moved} subject(s), {result.faces_reembedded} face(s) re-embedded, from model "
        f"{result.from_model} to {result.to_model} (gallery generation {result.generation}, audit event "
        f"#{result.audit_seq}); the old templates are destroyed",
        highlight=False,
    )
    out.print(
        f"threshold now {result.threshold.score:g} ({result.threshold.source}, the new model's own): "
        "calibrations of the old model no longer apply",
        highlight=False,
    )
    for proof, name in zip(result.erasures, result.subjects_lost, strict=True):
        reasons = sorted({m.reason for m in result.missing if m.subject == name})
        out.print(
            f"erased {name} (id {proof.subject_id}, {proof.faces_removed} face(s); {', '.join(reasons)}; "
            f"audit event #{proof.audit_seq})",
            highlight=False,
        )
