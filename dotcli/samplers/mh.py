"""``mh``: MH-GAN (Turner et al., ICML 2019): independent Metropolis-Hastings over G's proposals.

docs/protocol.md#mh-gan. Each output is the end state of one chain of ``chain_length`` proposals
x' = G(z') (z' from the prior, independent of the state), accepted over the state x with
probability min(1, exp(l(x') - l(x))), l the calibrated logit of D. The chain starts at a held-out
real sample (no burn-in). A chain that never accepts a fake is run again from its first fake over
the same proposals (the reference code's "cap out"; counted in ``fallback_chains``): both chains
advance together, so the fallback costs no extra G or D evaluation.

Conditional models: every proposal of a chain has the chain's label. Held-out real images carry no
label, so conditional chains start at their first fake and D is not calibrated (ours; see
docs/protocol.md#deviations). Cost per output: chain_length G and chain_length + 1 D forwards
(conditional: chain_length each), no gradients.
"""

from __future__ import annotations

from typing import Any

import torch

from dotcli import DotcliError
from dotcli.models.pair import ModelPair
from dotcli.samplers.base import MethodInfo, SampleBatch, Sampler, SetupContext
from dotcli.samplers.calibration import AffineLogit, IsotonicLogit, fit_isotonic_calibration, fit_logistic_calibration


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, *[1] * (a.dim() - 1)), a, b)


class MHSampler(Sampler):
    """Independent MH with the calibrated discriminator, a batch of chains advanced together.

    Args:
        chain_length: proposals per output sample K (the paper's demo: 640).
        calibrate: ``logistic`` (DRS's fit, the DOT repo's MH), ``isotonic`` (the reference code) or
            ``none`` (D's raw output is taken as the logit).
        calibration_samples: held-out real and fresh fake samples each for the fit.
    """

    name = "mh"
    info = MethodInfo(label="MH-GAN", params=("chain_length", "calibrate"),
                      cost=("acceptance_rate", "fallback_chains"),
                      source="Turner et al. 2019 (MH-GAN), Alg. 1", order=25)

    def __init__(self, chain_length: int = 640, calibrate: str = "logistic", calibration_samples: int = 1000) -> None:
        if not (isinstance(chain_length, int) and chain_length >= 1):
            raise DotcliError(f"method.chain_length={chain_length!r} is not valid; expected an integer >= 1")
        if calibrate not in ("logistic", "isotonic", "none"):
            raise DotcliError(f"method.calibrate={calibrate!r} is not valid; expected logistic|isotonic|none")
        if not (isinstance(calibration_samples, int) and calibration_samples >= 2):
            raise DotcliError(f"method.calibration_samples={calibration_samples!r} is not valid; "
                              "expected an integer >= 2")
        self.chain_length, self.calibrate, self.calibration_samples = chain_length, calibrate, calibration_samples
        self.calib: AffineLogit | IsotonicLogit = AffineLogit()
        self.real = None
        self.proposed = self.accepted = self.fallbacks = self.chains = 0

    def setup(self, pair: ModelPair, ctx: SetupContext) -> dict[str, Any]:
        self.proposed = self.accepted = self.fallbacks = self.chains = 0
        self.calib, self.real = AffineLogit(), None
        if pair.n_classes:
            if self.calibrate != "none":
                raise DotcliError(f"method.calibrate={self.calibrate!r}: MH-GAN cannot calibrate a conditional D "
                                  "on unlabelled held-out data; use method.calibrate=none")
            return {"calibration": {"kind": "none"}, "init": "first_fake"}
        if ctx.real_data is None:
            raise DotcliError("MH-GAN starts every chain at a held-out real sample; this dataset has no real data")
        self.real = ctx.real_data
        if self.calibrate != "none":
            d_real, d_fake = [], []
            with torch.no_grad():
                for start in range(0, self.calibration_samples, ctx.batch_size):
                    b = min(ctx.batch_size, self.calibration_samples - start)
                    d_real.append(pair.discriminate(ctx.real_data(b, ctx.gen)))
                    d_fake.append(pair.discriminate(pair.generate(pair.sample_z(b, ctx.gen))))
            fit = fit_logistic_calibration if self.calibrate == "logistic" else fit_isotonic_calibration
            self.calib = fit(torch.cat(d_real), torch.cat(d_fake))
        return {"calibration": self.calib.describe() if self.calibrate != "none" else {"kind": "none"},
                "init": "real"}

    def _logit(self, pair: ModelPair, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.calib(pair.discriminate(x, y)).double()

    @torch.no_grad()
    def sample(self, pair: ModelPair, n: int, gen: torch.Generator) -> SampleBatch:
        y = pair.sample_y(n, gen)  # the chain's label: every proposal of the chain has it
        x = l = None  # the chain from the real sample (None: conditional, starts at its first fake)
        if self.real is not None:
            x = self.real(n, gen)
            l = self._logit(pair, x, None)
        ever = torch.zeros(n, dtype=torch.bool, device=pair.device)
        xb = lb = None  # the fallback chain, from the first fake over the same proposals
        for k in range(self.chain_length):
            xp = pair.generate(pair.sample_z(n, gen), y)
            lp = self._logit(pair, xp, y)
            if x is not None:
                u = torch.rand(n, generator=gen, dtype=torch.float64).to(lp.device)
                acc = torch.log(u) <= lp - l  # u <= min(1, exp(l(x') - l(x)))  (Alg. 1)
                x, l, ever = _where(acc, xp, x), torch.where(acc, lp, l), ever | acc
                self.accepted += int(acc.sum())
            if k == 0:
                xb, lb = xp, lp
                continue
            ub = torch.rand(n, generator=gen, dtype=torch.float64).to(lp.device)
            acc_b = torch.log(ub) <= lp - lb
            xb, lb = _where(acc_b, xp, xb), torch.where(acc_b, lp, lb)
            if x is None:
                self.accepted += int(acc_b.sum())
        self.proposed += n * (self.chain_length if x is not None else self.chain_length - 1)
        self.chains += n
        if x is None:
            return SampleBatch(x=xb, x_init=None, y=y)
        self.fallbacks += int((~ever).sum())
        return SampleBatch(x=_where(ever, x, xb), x_init=None, y=y)

    def stats(self) -> dict[str, Any]:
        if not self.chains:
            return {}
        return {"acceptance_rate": self.accepted / max(self.proposed, 1), "fallback_chains": self.fallbacks,
                "fallback_fraction": self.fallbacks / self.chains}
