"""``python -m facesearch`` runs the CLI."""

from facesearch.cli import main

main()
