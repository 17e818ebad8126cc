"""facesearch gallery delete: destroy the whole gallery, its data key first (admin only)."""

from __future__ import annotations

from typing import Annotated

import typer

from facesearch.cli.common import (
    CLI_ACTOR,
    app,
    command_group,
    current_settings,
    err,
    handled,
    opts,
    out,
    print_json,
    user_token,
)

gallery_app = command_group("The gallery as a whole.")
app.add_typer(gallery_app, name="gallery")


@gallery_app.command("delete")
def gallery_delete(
    confirm: Annotated[bool, typer.Option("--confirm", help="Yes, destroy this gallery for good.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the certificate as JSON.")] = False,
) -> None:
    """Delete the gallery: its data key is destroyed first, so no backup of its database or index
    can be decrypted afterwards; then the database, index and home folder. Prints a destruction
    certificate (keep it: the audit log goes with the gallery). Refused while a legal hold stands."""
    from facesearch import lifecycle as core

    if not confirm:
        err.print(f"this destroys the gallery in {opts.home} and everything in it; add --confirm to go ahead")
        raise typer.Exit(2)
    with handled():
        settings = current_settings()
        token = user_token(core.gallery_id(opts.home, settings=settings) or "")
        certificate = core.delete_gallery(opts.home, actor=CLI_ACTOR, token=token, confirm=True, settings=settings)
    if json_out:
        print_json(certificate.to_dict())
        return
    out.print("gallery deleted; destruction certificate:", highlight=False)
    for line in certificate.lines():
        out.print(f"  {line}", highlight=False)
