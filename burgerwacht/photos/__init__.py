"""An alert's photo (issue 17): uploaded to a draft, re-encoded, shown on the public page."""
