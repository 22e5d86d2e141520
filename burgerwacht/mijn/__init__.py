"""Mijn Burgerwacht: the residents' own page (issue 19)."""
