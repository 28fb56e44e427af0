"""An Inception weights file without ``fc`` (what ``dot-weights inception`` writes): FID/KID yes, IS unavailable."""

from __future__ import annotations

import pytest
import torch

from dotcli.metrics.extractors import _fid_inception_v3_unloaded, has_classifier, make_feature_extractor


@pytest.fixture(scope="module")
def pool3_file(tmp_path_factory):
    torch.manual_seed(0)
    state = {k: v for k, v in _fid_inception_v3_unloaded().state_dict().items() if not k.startswith("fc.")}
    path = tmp_path_factory.mktemp("inc") / "pool3.pth"
    torch.save(state, path)
    return path


@pytest.mark.parametrize("backend", ["torch-fidelity", "pytorch-fid"])
def test_pool3_only_weights_give_features_and_no_logits(pool3_file, backend):
    assert not has_classifier(pool3_file)
    ext = make_feature_extractor("inception-v3-compat", fid_backend=backend, weights=str(pool3_file),
                                 allow_download=False)
    out = ext(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    assert out.pool.shape == (2, 2048) and out.logits is None and not ext.has_logits
    assert ext.identity()["logits"] is None and len(ext.identity()["weights_sha256"]) == 64
