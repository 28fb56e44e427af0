"""Model pairs (G, D) and their loaders."""

from dotcli.models.pair import ModelPair

__all__ = ["ModelPair"]
