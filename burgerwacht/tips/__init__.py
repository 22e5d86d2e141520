"""Tips back to the police: SMS replies, the voice tip line, anonymous relay, live feed."""
