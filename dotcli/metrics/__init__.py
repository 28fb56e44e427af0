"""Metrics: pure functions over samples or features.

``dotcli.metrics.prdc(real_features, fake_features, k_pr=3, k_dc=5)``: precision, recall, density, coverage
(:mod:`dotcli.metrics.prdc`; import the module's other names with ``from dotcli.metrics.prdc import ...``).
"""

from dotcli.metrics.prdc import prdc

__all__ = ["prdc"]
