"""facesearch models ...: face models registered from local ONNX files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from facesearch import lifecycle as core
from facesearch.cli.common import app, current_settings, handled, open_engine, opts, out, print_json
from facesearch.pipeline.recognizers.registered import registered_models
from facesearch.storage.home import Home

models_app = typer.Typer(help="Face models registered from local ONNX files.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("register")
def models_register(
    name: Annotated[str, typer.Argument(help="A name for the model (lower case); the setting 'recognizer' uses it.")],
    file: Annotated[Path, typer.Argument(help="The ONNX file: input (n, 3, 112, 112), an ArcFace-aligned chip.")],
    licence: Annotated[str, typer.Option(help="Under which licence or agreement you may use this model (required).")],
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
