"""PersonaTwin: privacy-protected personas from sensitive people-events data."""

__version__ = "0.1.0"
