"""Metrics: pure functions over samples or features."""
