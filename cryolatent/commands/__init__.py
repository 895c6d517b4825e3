"""CLI subcommands; each module is discovered by :mod:`cryolatent.cli`."""
