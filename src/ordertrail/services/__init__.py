"""Service functions: everything the routes, CLI and watchers call."""
