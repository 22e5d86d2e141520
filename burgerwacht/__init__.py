"""Burgerwacht: citizen-participation messaging backend."""

__version__ = "0.1.0"
