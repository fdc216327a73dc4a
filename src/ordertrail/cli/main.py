"""The `ordertrail` command."""

from __future__ import annotations


def main() -> None:
    """Run the CLI."""
    raise SystemExit("ordertrail: the CLI is being built")
