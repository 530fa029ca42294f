"""One module per ``actsearch`` subcommand; see :mod:`actsearch.cli`."""
