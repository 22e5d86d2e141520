"""Outcomes and effectiveness of alerts; the joint picture (gezamenlijk informatiebeeld)."""
