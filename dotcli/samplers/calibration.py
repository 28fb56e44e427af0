"""Calibration of a discriminator's output into a "real vs fake" logit (DRS, MH-GAN).

Both fit on D's raw output for held-out real samples (label 1) and fresh fakes (label 0);
docs/protocol.md#calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class AffineLogit:
    """Dt(x) = scale * D(x) + shift: the calibrated logit of "x is real"."""

    scale: float = 1.0
    shift: float = 0.0

    def __call__(self, d: torch.Tensor) -> torch.Tensor:
        return d * self.scale + self.shift

    def describe(self) -> dict[str, float | str]:
        return {"kind": "logistic", "scale": self.scale, "shift": self.shift}


def _fit_data(d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    d = torch.cat([d_real, d_fake]).detach().double().cpu().numpy()
    return d, np.concatenate([np.ones(len(d_real)), np.zeros(len(d_fake))])


def fit_logistic_calibration(d_real: torch.Tensor, d_fake: torch.Tensor) -> AffineLogit:
    """Logistic regression of real (1) vs fake (0) on D's raw output (DRS, Azadi et al. Sec. 3.2).

    Needed for WGAN and hinge critics, whose outputs are not probability-type logits.
    """
    from sklearn.linear_model import LogisticRegression  # lazy: scikit-learn costs seconds to import

    d, label = _fit_data(d_real, d_fake)
    reg = LogisticRegression(C=1e6, max_iter=1000).fit(d.reshape(-1, 1), label)  # (almost) unregularised
    return AffineLogit(scale=float(reg.coef_[0, 0]), shift=float(reg.intercept_[0]))


@dataclass
class IsotonicLogit:
    """logit(p(D(x))), p a monotone step function of D fitted by isotonic regression (MH-GAN's calibrator).

    p is clipped to [clip, 1 - clip] so the logit stays finite where the fit reaches 0 or 1.
    """

    reg: Any  # a fitted sklearn.isotonic.IsotonicRegression
    clip: float = 1e-12
    n_steps: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.n_steps = len(self.reg.X_thresholds_)

    def __call__(self, d: torch.Tensor) -> torch.Tensor:
        p = self.reg.predict(d.detach().double().cpu().numpy().reshape(-1))
        p = np.clip(p, self.clip, 1 - self.clip)
        return torch.from_numpy(np.log(p) - np.log1p(-p)).to(d.device)

    def describe(self) -> dict[str, float | str]:
        return {"kind": "isotonic", "thresholds": self.n_steps}


def fit_isotonic_calibration(d_real: torch.Tensor, d_fake: torch.Tensor) -> IsotonicLogit:
    """Isotonic regression of real (1) vs fake (0) on D's raw output (the MH-GAN reference code's calibrator)."""
    from sklearn.isotonic import IsotonicRegression  # lazy: scikit-learn costs seconds to import

    d, label = _fit_data(d_real, d_fake)
    return IsotonicLogit(IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(d, label))
