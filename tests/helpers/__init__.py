"""Helpers shared by the test layers (none of them is a test module)."""
