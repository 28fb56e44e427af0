"""A sampler that waits for a file before it samples: holds a run (and its directory lock) open for a test."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dotcli.samplers.none import BareSampler


class GateSampler(BareSampler):
    """The bare generator, whose ``setup`` says it is waiting (``<gate>.waiting``), then waits (up to
    ``timeout`` s) until the file ``gate`` exists."""

    def __init__(self, gate: str, timeout: float = 300.0) -> None:
        self.gate, self.timeout = Path(gate), timeout

    def setup(self, pair: Any, ctx: Any) -> dict[str, Any]:
        Path(f"{self.gate}.waiting").touch()
        end = time.monotonic() + self.timeout
        while not self.gate.exists() and time.monotonic() < end:
            time.sleep(0.05)
        return {}
