"""Tasuke (助け): self-hosted, consent-first remote support."""

__version__ = "0.1.0"
