"""Datasets: where real samples come from (for metrics, calibration, figures)."""
