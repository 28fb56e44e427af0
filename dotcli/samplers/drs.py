"""``drs``: Discriminator Rejection Sampling (Azadi et al., ICLR 2019, Algorithm 1)."""

from __future__ import annotations

from typing import Any

import torch

from dotcli import DotcliError
from dotcli.models.pair import ModelPair
from dotcli.samplers.base import MethodInfo, SampleBatch, Sampler, SetupContext
from dotcli.samplers.calibration import AffineLogit, fit_logistic_calibration


def drs_score(dt: torch.Tensor, d_max: float, eps: float = 1e-6) -> torch.Tensor:
    """F(x) = Dt(x) - D_M - log(1 - exp(Dt(x) - D_M - eps))  (DRS Sec. 3.2)."""
    a = dt.double() - d_max
    return a - torch.log(-torch.expm1(a - eps))  # log(1 - e^u) as log(-expm1(u)): exact near 0


def acceptance_probability(dt: torch.Tensor, d_max: float, gamma: float, eps: float = 1e-6) -> torch.Tensor:
    """p = sigmoid(F(x) - gamma)."""
    return torch.sigmoid(drs_score(dt, d_max, eps) - gamma)


class RejectionSampler(Sampler):
    """Propose x = G(z), accept with probability sigmoid(F(x) - gamma).

    Args:
        burn_in: samples whose max calibrated logit initialises D_M.
        gamma_percentile: gamma is this percentile of F over each proposal batch (the DRS paper
            sets gamma per batch; 95 as in the public re-implementations).
        eps: the epsilon inside the log (1e-6).
        calibrate: ``auto`` (critics are calibrated, logit D's are used as they are), ``always``, ``never``.
        calibration_samples: real and fake samples each for the logistic fit.
        max_proposals_per_sample: give up (error) past this many proposals per requested sample.
    """

    name = "drs"
    info = MethodInfo(label="DRS", params=("gamma_percentile",), cost=("acceptance_rate", "proposals_per_sample"),
                      source="Azadi et al. 2019 (DRS), Alg. 1", order=20)

    def __init__(self, burn_in: int = 10_000, gamma_percentile: float = 95.0, eps: float = 1e-6,
                 calibrate: str = "auto", calibration_samples: int = 1000,
                 max_proposals_per_sample: int = 1000) -> None:
        if not 0 <= gamma_percentile <= 100:
            raise DotcliError(f"method.gamma_percentile={gamma_percentile} is not valid; expected 0..100")
        if calibrate not in ("auto", "always", "never"):
            raise DotcliError(f"method.calibrate={calibrate!r} is not valid; expected auto|always|never")
        if burn_in < 1:
            raise DotcliError(f"method.burn_in={burn_in} is not valid; expected >= 1")
        self.burn_in, self.gamma_percentile, self.eps = burn_in, gamma_percentile, eps
        self.calibrate, self.calibration_samples = calibrate, calibration_samples
        self.max_proposals_per_sample = max_proposals_per_sample
        self.calib = AffineLogit()
        self.d_max = float("-inf")
        self.proposed = self.accepted = self.outputs = 0

    @torch.no_grad()
    def _logits(self, pair: ModelPair, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor,
                                                                               torch.Tensor | None]:
        z = pair.sample_z(n, gen)
        y = pair.sample_y(n, gen)
        x = pair.generate(z, y)
        return x, self.calib(pair.discriminate(x, y)), y

    def setup(self, pair: ModelPair, ctx: SetupContext) -> dict[str, Any]:
        self.proposed = self.accepted = self.outputs = 0
        needs = self.calibrate == "always" or (self.calibrate == "auto" and pair.d_output != "logit")
        self.calib = AffineLogit()
        if needs:
            if ctx.real_data is None:
                raise DotcliError("DRS needs held-out real data to calibrate this critic "
                                  "(method.calibrate); none is available for this dataset")
            if pair.n_classes:
                raise DotcliError("DRS calibration of a conditional critic is not supported; "
                                  "use method.calibrate=never with a logit discriminator")
            d_real, d_fake = [], []
            with torch.no_grad():
                for start in range(0, self.calibration_samples, ctx.batch_size):
                    b = min(ctx.batch_size, self.calibration_samples - start)
                    d_real.append(pair.discriminate(ctx.real_data(b, ctx.gen)))
                    d_fake.append(self._logits(pair, b, ctx.gen)[1])
            self.calib = fit_logistic_calibration(torch.cat(d_real), torch.cat(d_fake))
        d_max = float("-inf")
        for start in range(0, self.burn_in, ctx.batch_size):  # burn-in: D_M = max Dt
            d_max = max(d_max, self._logits(pair, min(ctx.batch_size, self.burn_in - start), ctx.gen)[1]
                        .max().item())
        self.d_max = d_max
        return {"calibration": {"scale": self.calib.scale, "shift": self.calib.shift, "fitted": needs},
                "d_max_burn_in": d_max}

    def sample(self, pair: ModelPair, n: int, gen: torch.Generator) -> SampleBatch:
        kept_x: list[torch.Tensor] = []
        kept_y: list[torch.Tensor] = []
        have, proposed = 0, 0
        while have < n:
            if proposed > self.max_proposals_per_sample * n:
                raise DotcliError(f"DRS accepted {have} of {n} samples after {proposed} proposals; "
                                  "lower method.gamma_percentile")
            x, dt, y = self._logits(pair, n, gen)
            self.d_max = max(self.d_max, dt.max().item())  # raise D_M whenever a larger Dt is seen
            f = drs_score(dt, self.d_max, self.eps)
            gamma = torch.quantile(f, self.gamma_percentile / 100).item()
            p = torch.sigmoid(f - gamma)
            keep = (torch.rand(n, generator=gen, dtype=torch.float64).to(p.device) < p)
            proposed += n
            kept_x.append(x[keep])
            if y is not None:
                kept_y.append(y[keep])
            have += int(keep.sum())
        self.proposed += proposed
        self.accepted += have  # accepted by the test, surplus beyond n included
        self.outputs += n
        x = torch.cat(kept_x)[:n]
        return SampleBatch(x=x, x_init=None, y=torch.cat(kept_y)[:n] if kept_y else None)

    def stats(self) -> dict[str, Any]:
        if not self.proposed:
            return {}
        return {"acceptance_rate": self.accepted / self.proposed,
                "proposals_per_sample": self.proposed / self.outputs}
