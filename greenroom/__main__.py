"""``python -m greenroom`` runs the command line."""

from greenroom.cli.main import app

app()
