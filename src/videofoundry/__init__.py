"""Video Foundry: timeline-aware AI video generation."""

__version__ = "0.1.0"
