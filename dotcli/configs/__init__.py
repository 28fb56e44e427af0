"""Hydra configs of dot-run (shipped with the package; ./configs links here)."""
