"""Evaluations: stream a run's sample batches into metrics and figures.

A dataset config names its evaluation (``dataset.evaluation._target_``); the runner calls
``start_trial``, ``add`` for every batch, ``finish_trial``, and ``save_figures``.
"""

from dotcli.evaluation.base import Evaluation

__all__ = ["Evaluation"]
