"""Subcommands of the `certsentry` program, one module each (discovered by the CLI)."""
