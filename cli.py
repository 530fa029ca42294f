"""Thin launcher: ``python cli.py ...`` is the same as the ``actsearch`` command."""

import sys

from actsearch.cli import main

if __name__ == "__main__":
    sys.exit(main())
