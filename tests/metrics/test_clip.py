"""CLIP ViT-B/32 from a local file: equal to torch-fidelity's own CLIP extractor on the same weights, the
architecture check, TorchScript only for OpenAI's published file, and the one-line errors. Never downloads."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_fidelity.feature_extractor_clip import CLIPVisual, FeatureExtractorCLIP

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.metrics import clip
from dotcli.metrics.extractors import make_feature_extractor

pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")

TINY_ARCH = {"width": 64, "layers": 2, "patch": 32, "resolution": 64, "embed_dim": 32}


class TinyClip(nn.Module):
    """OpenAI's key layout (visual.*, text_projection, logit_scale) at a tiny size, for TorchScript export."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.visual = CLIPVisual(TINY_ARCH["embed_dim"], TINY_ARCH["resolution"], TINY_ARCH["layers"],
                                 TINY_ARCH["width"], TINY_ARCH["patch"]).visual
        self.text_projection = nn.Parameter(torch.randn(48, TINY_ARCH["embed_dim"]))
        self.logit_scale = nn.Parameter(torch.ones([]))
        with torch.no_grad():
            for p in self.parameters():
                p.add_(0.02 * torch.randn_like(p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


@pytest.fixture
def tiny_clip(tmp_path, monkeypatch):
    """The same random weights as a TorchScript archive (OpenAI's format) and as a plain state dict."""
    monkeypatch.setattr(clip, "ARCHITECTURE", TINY_ARCH)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    model = TinyClip().eval()
    jit_path, plain_path = tmp_path / "tiny-clip.pt", tmp_path / "tiny-clip.pth"
    torch.jit.trace(model, torch.zeros(1, 3, 64, 64)).save(str(jit_path))
    torch.save(model.state_dict(), plain_path)
    return jit_path, plain_path


def images(n: int = 5, seed: int = 3) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_vit_b_32_architecture_is_torch_fidelitys():
    with torch.device("meta"):
        visual = CLIPVisual(512, 224, 12, 768, 32)
    state = {f"visual.{k}" if not k.startswith("visual.") else k: v for k, v in visual.state_dict().items()}
    assert clip.architecture_of(state) == clip.ARCHITECTURE
    assert clip.URL.endswith(f"/{clip.OFFICIAL_SHA256}/ViT-B-32.pt")


def test_plain_state_dict_gives_torch_fidelitys_clip_features(tiny_clip):
    jit_path, plain_path = tiny_clip
    theirs = FeatureExtractorCLIP("clip-vit-b-32", ["clip"], feature_extractor_weights_path=str(jit_path)).eval()
    ext = make_feature_extractor("clip-vit-b-32", extractor_weights=str(plain_path), allow_download=False)
    x = images()
    with torch.no_grad():
        want = theirs(x)[0]
    got = ext(x)
    assert got.pool.shape == (5, 32) and torch.isfinite(got.pool).all()
    torch.testing.assert_close(got.pool, want, rtol=0, atol=0)
    assert got.logits is None and not ext.has_logits
    ident = ext.identity()
    assert ident["official_file"] is False and ident["weights_sha256"] == sha256_of(plain_path)
    assert "bilinear" in ident["resize"] and ext.resize == clip.RESIZE


def test_torchscript_only_for_the_published_file(tiny_clip, monkeypatch):
    jit_path, plain_path = tiny_clip
    with pytest.raises(DotcliError, match="is a TorchScript archive.*must be a plain state dict"):
        make_feature_extractor("clip-vit-b-32", extractor_weights=str(jit_path), allow_download=False)
    # the published file is recognised by its sha256 (here: pretend the tiny archive is it)
    monkeypatch.setattr(clip, "OFFICIAL_SHA256", sha256_of(jit_path))
    ext = make_feature_extractor("clip-vit-b-32", extractor_weights=str(jit_path), allow_download=False)
    plain = make_feature_extractor("clip-vit-b-32", extractor_weights=str(plain_path), allow_download=False)
    torch.testing.assert_close(ext(images()).pool, plain(images()).pool, rtol=0, atol=0)


def test_other_network_is_refused(tmp_path, tiny_clip):
    _, plain_path = tiny_clip
    state = torch.load(plain_path)
    state.pop("visual.transformer.resblocks.1.attn.in_proj_weight")
    torch.save(state, tmp_path / "short.pth")
    with pytest.raises(DotcliError, match="'layers': 1.*ViT-B-32.pt"):
        make_feature_extractor("clip-vit-b-32", extractor_weights=str(tmp_path / "short.pth"), allow_download=False)
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(DotcliError, match="not a CLIP ViT state dict"):
        make_feature_extractor("clip-vit-b-32", extractor_weights=str(tmp_path / "other.pth"), allow_download=False)


def test_missing_weights_offline_and_download_checked_against_the_sha256(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(DotcliError, match=f"{clip.FILE} not found") as err:
        make_feature_extractor("clip-vit-b-32", allow_download=False)
    assert clip.URL in str(err.value) and "\n" not in str(err.value)
    calls = []

    def refuse(url, dst, hash_prefix=None, progress=True):  # no network in tests
        calls.append((url, dst, hash_prefix))
        raise RuntimeError("offline")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    with pytest.raises(DotcliError, match="could not download"):
        make_feature_extractor("clip-vit-b-32", allow_download=True)
    assert calls == [(clip.URL, str(tmp_path / "hub" / "checkpoints" / clip.FILE), clip.OFFICIAL_SHA256)]
