"""Alerts (acties): geo-targeting, preview, durable dispatch, closing messages."""
