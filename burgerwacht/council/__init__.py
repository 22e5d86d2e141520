"""The report for the council and the lokale driehoek (issue 18)."""
