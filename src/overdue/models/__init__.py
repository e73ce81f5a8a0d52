"""Outcome models, per-approach effects, per-case estimates and the model registry."""
