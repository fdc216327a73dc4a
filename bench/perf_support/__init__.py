"""Shared pieces of the performance benchmarks: figure lines, databases, realistic workloads."""
