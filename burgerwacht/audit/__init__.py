"""Append-only, hash-chained audit log of every staff action."""
