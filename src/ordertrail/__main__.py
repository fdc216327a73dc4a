"""Run the CLI as `python -m ordertrail`."""

from ordertrail.cli.main import main

main()
