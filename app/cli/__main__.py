"""``python -m app.cli``: the ``mixopt`` command."""

from app.cli import main

main()
