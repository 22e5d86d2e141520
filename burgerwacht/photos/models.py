"""Shapes of the photo routes (their constraints are in the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from burgerwacht.alerts.models import no_control_characters
from burgerwacht.fields import VISIBLE_TEXT_PATTERN, string_pattern
from burgerwacht.media.images import ACCEPTED_TYPES, MAX_INPUT_BYTES

ALT_MAX = 300


class PhotoQuery(BaseModel):
    """Query of ``PUT /api/v1/alerts/{id}/photo``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    alt: str | None = Field(
        default=None,
        min_length=1,
        max_length=ALT_MAX,
        description="Alt text for the photo on the public page (what it shows, for screen readers); "
        "absent: the alert's title. Sent again with a new upload, or the new photo has none",
        json_schema_extra=string_pattern(VISIBLE_TEXT_PATTERN),
    )

    _alt = field_validator("alt")(no_control_characters)


#: The request body of the upload, per accepted media type (the OpenAPI document).
UPLOAD_CONTENT = {
    media_type: {
        "schema": {
            "type": "string",
            "format": "binary",
            "contentMediaType": media_type,
            "maxLength": MAX_INPUT_BYTES,
            "description": f"The photo's bytes, at most {MAX_INPUT_BYTES} bytes (5 MB) and 40 million "
            "pixels. Checked by its content (the declared type must be one of these three); stored "
            "re-encoded as a JPEG without EXIF/GPS, longest side at most 1280 px, at most 300 kB",
        }
    }
    for media_type in ACCEPTED_TYPES
}
JPEG_CONTENT = {
    "image/jpeg": {"schema": {"type": "string", "format": "binary", "contentMediaType": "image/jpeg"}}
}
