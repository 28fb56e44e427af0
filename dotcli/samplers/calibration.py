"""Logistic calibration of a discriminator's output into a "real vs fake" logit (for DRS)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class AffineLogit:
    """Dt(x) = scale * D(x) + shift: the calibrated logit of "x is real"."""

    scale: float = 1.0
    shift: float = 0.0

    def __call__(self, d: torch.Tensor) -> torch.Tensor:
        return d * self.scale + self.shift


def fit_logistic_calibration(d_real: torch.Tensor, d_fake: torch.Tensor) -> AffineLogit:
    """Logistic regression of real (1) vs fake (0) on D's raw output (DRS, Azadi et al. Sec. 3.2).

    Needed for WGAN and hinge critics, whose outputs are not probability-type logits.
    """
    d = torch.cat([d_real, d_fake]).detach().double().cpu().numpy().reshape(-1, 1)
    label = np.concatenate([np.ones(len(d_real)), np.zeros(len(d_fake))])
    from sklearn.linear_model import LogisticRegression  # lazy: scikit-learn costs seconds to import

    reg = LogisticRegression(C=1e6, max_iter=1000).fit(d, label)  # (almost) unregularised
    return AffineLogit(scale=float(reg.coef_[0, 0]), shift=float(reg.intercept_[0]))
