"""Watchers: one supervisor per broker account, streaming and polling."""
