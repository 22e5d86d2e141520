"""Signed provider webhooks: inbound SMS routing and verification calls."""
