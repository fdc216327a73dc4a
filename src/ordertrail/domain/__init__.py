"""The pure domain: statuses, transitions, reports, fills, trades, alerts, matching, lifecycle text.

Standard library only; a test checks the imports.
"""
