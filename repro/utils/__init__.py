"""Small helpers shared by every layer: atomic file writes, logging set-up, seeding."""
