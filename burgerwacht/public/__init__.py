"""The public page per alert (``GET /a/{token}``) and its tip form (issue 17)."""
