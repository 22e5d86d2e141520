"""Participation coverage: enrolled residents per area beside CBS inhabitants (KWB)."""
