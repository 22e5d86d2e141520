"""Photos: the alert's photo (issue 17) and picture tips, decoded and re-encoded with Pillow."""
