"""DINOv2 ViT-L/14 from a local file: the official key layout, a formula-level reference forward, the
torch-fidelity preprocessing, and the one-line errors (missing file, wrong network). Never downloads."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision

from dotcli import DotcliError
from dotcli.metrics import dinov2
from dotcli.metrics.extractors import make_feature_extractor

TINY_ARCH = {"width": 128, "depth": 2, "patch": 14, "grid": 37}  # 2 heads of 64, the official 37x37 grid


def official_layout(width: int, depth: int, patch: int, grid: int) -> dict[str, tuple[int, ...]]:
    """Names and shapes of facebookresearch/dinov2's dinov2_vit*14 state dict (no registers, no chunks)."""
    shapes = {"cls_token": (1, 1, width), "pos_embed": (1, grid * grid + 1, width), "mask_token": (1, width),
              "patch_embed.proj.weight": (width, 3, patch, patch), "patch_embed.proj.bias": (width,),
              "norm.weight": (width,), "norm.bias": (width,)}
    for i in range(depth):
        b = f"blocks.{i}."
        shapes.update({b + "norm1.weight": (width,), b + "norm1.bias": (width,),
                       b + "attn.qkv.weight": (3 * width, width), b + "attn.qkv.bias": (3 * width,),
                       b + "attn.proj.weight": (width, width), b + "attn.proj.bias": (width,),
                       b + "ls1.gamma": (width,), b + "norm2.weight": (width,), b + "norm2.bias": (width,),
                       b + "mlp.fc1.weight": (4 * width, width), b + "mlp.fc1.bias": (4 * width,),
                       b + "mlp.fc2.weight": (width, 4 * width), b + "mlp.fc2.bias": (width,),
                       b + "ls2.gamma": (width,)})
    return shapes


def random_state(arch: dict[str, int], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(shape, generator=g) * (0.5 if len(shape) == 1 else 0.05)
             for k, shape in official_layout(**arch).items()}
    for k in state:
        if k.endswith("norm1.weight") or k.endswith("norm2.weight") or k == "norm.weight":
            state[k] = 1.0 + 0.1 * state[k]
    return state


def reference_forward(state: dict[str, torch.Tensor], x: torch.Tensor, arch: dict[str, int]) -> torch.Tensor:
    """DinoVisionTransformer's eval forward written from its definition (explicit softmax attention)."""
    w, p, grid = arch["width"], arch["patch"], arch["grid"]
    heads = w // 64
    t = F.conv2d(x, state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=p)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([state["cls_token"].expand(len(t), -1, -1), t], dim=1)
    side = x.shape[-1] // p
    pos = state["pos_embed"]
    patch_pos = F.interpolate(pos[:, 1:].reshape(1, grid, grid, w).permute(0, 3, 1, 2),
                              scale_factor=((side + 0.1) / grid, (side + 0.1) / grid), mode="bicubic")
    t = t + torch.cat([pos[:, :1], patch_pos.permute(0, 2, 3, 1).reshape(1, -1, w)], dim=1)
    n = t.shape[1]
    for i in range(arch["depth"]):
        b = f"blocks.{i}."
        h = F.layer_norm(t, (w,), state[b + "norm1.weight"], state[b + "norm1.bias"], eps=1e-6)
        qkv = (h @ state[b + "attn.qkv.weight"].T + state[b + "attn.qkv.bias"]).reshape(len(t), n, 3, heads, 64)
        q, k, v = (qkv[:, :, j].transpose(1, 2) for j in range(3))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(64), dim=-1) @ v
        att = att.transpose(1, 2).reshape(len(t), n, w) @ state[b + "attn.proj.weight"].T + state[b + "attn.proj.bias"]
        t = t + state[b + "ls1.gamma"] * att
        h = F.layer_norm(t, (w,), state[b + "norm2.weight"], state[b + "norm2.bias"], eps=1e-6)
        h = F.gelu(h @ state[b + "mlp.fc1.weight"].T + state[b + "mlp.fc1.bias"])
        t = t + state[b + "ls2.gamma"] * (h @ state[b + "mlp.fc2.weight"].T + state[b + "mlp.fc2.bias"])
    return F.layer_norm(t, (w,), state["norm.weight"], state["norm.bias"], eps=1e-6)[:, 0]


@pytest.fixture
def tiny_dinov2(tmp_path, monkeypatch):
    """A random DINOv2 of the official layout (2 blocks, 128 wide) saved as a plain state dict; the name's
    expected architecture is patched to it (the real ViT-L/14 file is 1.2 GB)."""
    monkeypatch.setitem(dinov2.ARCHITECTURES, dinov2.NAME, TINY_ARCH)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # never the user's cache
    state = random_state(TINY_ARCH)
    path = tmp_path / "dinov2_tiny.pth"
    torch.save(state, path)
    return path, state


def test_vit_l_14_has_the_official_key_layout_and_size():
    with torch.device("meta"):
        net = dinov2.DinoV2ViT(**dinov2.ARCHITECTURES[dinov2.NAME])
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == official_layout(1024, 24, 14, 37)
    assert len(got) == 343
    assert sum(v.numel() for v in net.state_dict().values()) == 304_368_640  # ViT-L/14: 304 M parameters
    assert dinov2.architecture_of(net.state_dict()) == dinov2.ARCHITECTURES[dinov2.NAME]


def test_network_equals_the_formulas_and_interpolates_positions(tiny_dinov2):
    path, state = tiny_dinov2
    net = dinov2.load_dinov2(path)
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = net(x)
        ref = reference_forward(state, x, TINY_ARCH)
    assert out.shape == (3, 128) and torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    # at the pretraining grid (518 px) the position embeddings are used as stored, not interpolated
    assert net.interpolate_pos_encoding(37 * 37, 518, 518, torch.float32) is net.pos_embed


def test_extractor_is_torch_fidelitys_preprocessing_over_the_network(tiny_dinov2):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    path, _ = tiny_dinov2
    ext = make_feature_extractor("dinov2-vit-l-14", extractor_weights=str(path), allow_download=False)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    feats = ext(images)
    assert feats.logits is None and not ext.has_logits  # IS is never computed from an embedding
    x = interpolate_bilinear_2d_like_tensorflow1x(images.float(), size=(224, 224), align_corners=False)
    x = torchvision.transforms.functional.normalize(x, (255 * 0.485, 255 * 0.456, 255 * 0.406),
                                                    (255 * 0.229, 255 * 0.224, 255 * 0.225))
    with torch.no_grad():
        torch.testing.assert_close(feats.pool, dinov2.load_dinov2(path)(x))
    ident = ext.identity()
    assert ident["name"] == "dinov2-vit-l-14" and "bilinear" in ident["resize"] and "bicubic" in ident["resize"]
    assert len(ident["weights_sha256"]) == 64 and ext.resize == dinov2.RESIZE


def test_missing_weights_offline_is_one_error_naming_the_file_and_url(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(DotcliError, match="dinov2_vitl14_pretrain.pth") as err:
        make_feature_extractor("dinov2-vit-l-14", allow_download=False)
    assert dinov2.URL in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DotcliError, match="is not a file") as err:
        make_feature_extractor("dinov2-vit-l-14", extractor_weights=str(tmp_path / "nope.pth"), allow_download=False)
    assert dinov2.URL in str(err.value)


def test_download_goes_to_the_torch_hub_cache(tmp_path, monkeypatch, tiny_dinov2):
    path, _ = tiny_dinov2
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):  # no network in tests
        calls.append((url, hash_prefix))
        (tmp_path / "hub" / "checkpoints").mkdir(parents=True, exist_ok=True)
        with open(dst, "wb") as f:
            f.write(path.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    ext = make_feature_extractor("dinov2-vit-l-14", allow_download=True)
    assert calls == [(dinov2.URL, None)]
    assert ext.identity()["weights_file"] == dinov2.FILE
    make_feature_extractor("dinov2-vit-l-14", allow_download=True)  # cached now: no second download
    assert len(calls) == 1


def test_wrong_network_and_non_state_dict_are_refused(tmp_path, tiny_dinov2):
    bigger = random_state({**TINY_ARCH, "depth": 3})
    torch.save(bigger, tmp_path / "deeper.pth")
    with pytest.raises(DotcliError, match="'depth': 3.*is.*'depth': 2"):
        dinov2.load_dinov2(tmp_path / "deeper.pth")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(DotcliError, match="not a DINOv2 state dict"):
        dinov2.load_dinov2(tmp_path / "other.pth")
    torch.save([torch.zeros(3)], tmp_path / "list.pth")
    with pytest.raises(DotcliError, match="not a DINOv2 state dict"):
        dinov2.load_dinov2(tmp_path / "list.pth")


def test_torch_fidelitys_hub_dinov2_is_refused_with_the_local_route():
    with pytest.raises(DotcliError, match="torch.hub.*metrics.feature_extractor=dinov2-vit-l-14"):
        make_feature_extractor("torch-fidelity:dinov2-vit-l-14", extractor_weights="x.pth")
