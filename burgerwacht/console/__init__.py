"""The web console: plain HTML/CSS/JS pages for control-room operators and analysts,
served by the service itself (no build step, nothing from a CDN)."""
