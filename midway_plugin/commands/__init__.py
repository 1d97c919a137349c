"""Subcommands of ``midway``: one module each, discovered by :mod:`midway_plugin.cli`."""
