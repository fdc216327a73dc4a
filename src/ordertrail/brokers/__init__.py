"""Broker adapters: one package per broker, each of the same shape, each speaking reports."""
