"""Differentiable hardware blocks: fixed-function hardware as trainable graph nodes."""
