"""`python -m sheets_sync` is the `okr-sync` command."""

from .cli import main

main()
