"""Alert templates: reusable alert texts with {placeholders}, per municipality or national."""
