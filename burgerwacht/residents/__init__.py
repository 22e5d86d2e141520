"""Residents: enrolment, addresses and the SMS keyword commands."""
