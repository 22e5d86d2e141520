"""Areas: CBS gemeenten, wijken and buurten, and the address points assigned to them."""
