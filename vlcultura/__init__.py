"""vlcultura: culturally grounded captioning data and preference training for VLMs."""

__version__ = "0.1.0"
