"""The paper's tables: their titles and the order of their model rows (docs/protocol.md#published-numbers).

Models not named here (the project's own pairs, a user's checkpoint) come after these, by name; a family
not named in :data:`TITLES` is titled by its dataset name.
"""

from __future__ import annotations

# rows of the paper's tables, in its order: the author's 2-D and 32/48px models, then pfnet's ImageNet model
MODEL_ORDER = ("tanaka_wgangp", "tanaka_sngan_ns", "tanaka_sngan_hinge", "tanaka_sagan_ns", "pfn_sngan_projection")

# table family (``toy`` or an image dataset) -> title; fashion_mnist is the project's offline benchmark
TITLES = {"toy": "2-D toy experiments", "cifar10": "CIFAR-10 (32px)", "stl10": "STL-10 (48px)",
          "imagenet": "ImageNet (128px, conditional)", "fashion_mnist": "Fashion-MNIST"}


def title(family: str) -> str:
    """The title of a family's table."""
    return TITLES.get(family, family)
