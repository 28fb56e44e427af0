"""Published numbers printed beside our rows (PROTOCOL.md section 5), each with its source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    value: float
    source: str


# (dataset, model, method) -> {metric: Published}
PUBLISHED: dict[tuple[str, str, str], dict[str, Published]] = {
    ("gaussians25", "tanaka_wgangp", "dot"): {
        "hq": Published(0.698, "Tanaka 2019 (DOT), 2-D toy table, via a leaderboard scrape (PROTOCOL.md s.5)"),
    },
}


def published_for(dataset: str, model: str, method: str) -> dict[str, Published]:
    return PUBLISHED.get((dataset, model, method), {})
