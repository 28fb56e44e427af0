"""Published numbers printed beside our rows (docs/protocol.md#published-numbers), each with its source.

Two kinds:

* :data:`PUBLISHED`: numbers whose row is known (dataset, model, method): printed in that cell as
  ``(paper X [n])``.
* :data:`PAPER_ROWS`: numbers whose source does not say which model they belong to: printed as rows
  of their own ("... model not named"), never next to one of our models.

Datasets absent from both have no published number we can attribute; the tables say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SLIDES = ("seed slides (a talk by the DOT paper's author, seed/slides.md): G only -> DOT; "
          "the slide does not name the model")
LEADERBOARD = ("best DOT entries of Tanaka 2019 (DOT), via a leaderboard scrape of the paper; the model row "
               "is unknown and IS and FID may come from different rows")
TOY_HQ = "Tanaka 2019 (DOT), 2-D toy table, via a leaderboard scrape (docs/protocol.md#published-numbers)"
COLLECTIONS = "w86763777/pytorch-gan-collections README (SNGAN ResNet, 50k samples vs CIFAR-10 train, their checkpoint)"
PFN = "pfnet-research/sngan_projection README (their TF Inception pipeline)"
DRS = "Azadi et al. 2019 (DRS), abstract: their SAGAN on ImageNet 128, not this model"


@dataclass(frozen=True)
class Published:
    """One published number and where it comes from."""

    value: float
    source: str


@dataclass(frozen=True)
class PaperRow:
    """A row of published numbers whose model is not one of ours (or is not named by the source)."""

    dataset: str
    label: str
    source: str
    cells: dict[str, dict[str, float]] = field(default_factory=dict)  # method -> {metric: value}


# (dataset, model, method) -> {metric: Published}
PUBLISHED: dict[tuple[str, str, str], dict[str, Published]] = {
    ("gaussians25", "tanaka_wgangp", "dot"): {"hq": Published(0.698, TOY_HQ)},
    ("cifar10", "collections_sngan", "none"): {"is_mean": Published(8.31, COLLECTIONS),
                                               "fid": Published(14.32, COLLECTIONS)},
    ("imagenet", "pfn_sngan_projection", "none"): {"is_mean": Published(36.8, PFN)},
}

PAPER_ROWS: list[PaperRow] = [
    PaperRow("cifar10", "paper, model not named", SLIDES,
             {"none": {"is_mean": 7.85, "fid": 21.53}, "dot": {"is_mean": 8.50, "fid": 19.71}}),
    PaperRow("cifar10", "paper, best DOT entry, row unknown", LEADERBOARD, {"dot": {"is_mean": 8.02, "fid": 15.78}}),
    PaperRow("stl10", "paper, model not named", SLIDES,
             {"none": {"is_mean": 9.29, "fid": 45.79}, "dot": {"is_mean": 10.30, "fid": 40.51}}),
    PaperRow("stl10", "paper, best DOT entry, row unknown", LEADERBOARD, {"dot": {"is_mean": 9.45}}),
    PaperRow("imagenet", "paper, model not named", SLIDES,
             {"none": {"is_mean": 36.40, "fid": 43.34}, "dot": {"is_mean": 37.61, "fid": 42.35}}),
    PaperRow("imagenet", "SAGAN-128 in the DRS paper", DRS,
             {"none": {"is_mean": 62.36, "fid": 14.79}, "drs": {"is_mean": 76.08, "fid": 13.75}}),
]

# Facts about a dataset that are not a method's number (sanity values for the metric pipeline).
NOTES: dict[str, list[tuple[str, str]]] = {
    "cifar10": [("real CIFAR-10 images: IS 11.24 (train), 10.98 (test); FID train vs test 3.15",
                 "TF reference values (docs/protocol.md#published-numbers)")],
}


def published_for(dataset: str, model: str, method: str) -> dict[str, Published]:
    """Published numbers for exactly this (dataset, model, method), by metric."""
    return PUBLISHED.get((dataset, model, method), {})


def paper_rows(dataset: str) -> list[PaperRow]:
    """Rows of published numbers for ``dataset`` whose model is not one of ours."""
    return [r for r in PAPER_ROWS if r.dataset == dataset]


def has_reference(dataset: str) -> bool:
    """Whether any published number exists here for ``dataset``."""
    return any(k[0] == dataset for k in PUBLISHED) or bool(paper_rows(dataset))
