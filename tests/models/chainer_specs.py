"""Expected Chainer npz contents (key -> shape) of the original models, written out from their code.

Derived by hand from the public Chainer sources, independently of dotcli's modules:
- DOT ``model.py`` (DCGANGenerator, WGANDiscriminator, SNDCGANDiscriminator, SADCGAN*), DOT
  ``sa/attention.py`` (Self_Attn), DOT ``snd/*`` (SN links keep ``u`` as a plain attribute, so it
  is not saved);
- sngan_projection ``gen_models/resnet.py``, ``dis_models/snresnet.py``, ``*/resblocks.py``,
  ``source/links/*`` (SN links register ``u`` as a persistent of shape (1, rows), so it is saved).
Chainer BatchNormalization saves gamma, beta, avg_mean, avg_var and the scalar N.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

Spec = dict[str, tuple[int, ...]]


def _bn(prefix: str, n: int) -> Spec:
    return {f"{prefix}/gamma": (n,), f"{prefix}/beta": (n,), f"{prefix}/avg_mean": (n,),
            f"{prefix}/avg_var": (n,), f"{prefix}/N": ()}


def _link(prefix: str, w: tuple[int, ...], u_rows: int | None = None) -> Spec:
    out = {f"{prefix}/W": w, f"{prefix}/b": (w[0],)}  # Linear / Convolution2D: bias = rows
    if u_rows is not None:
        out[f"{prefix}/u"] = (1, u_rows)
    return out


def self_attn(prefix: str, c: int) -> Spec:
    return {**_link(f"{prefix}/query_conv", (c // 8, c, 1, 1)), **_link(f"{prefix}/key_conv", (c // 8, c, 1, 1)),
            **_link(f"{prefix}/value_conv", (c, c, 1, 1)), f"{prefix}/gamma": (1,)}


def dcgan_generator(bw: int, ch: int = 512, z: int = 128, attention: bool = False) -> Spec:
    """DOT DCGANGenerator (SADCGANGenerator: same keys, plus sa1 when attention was used)."""
    spec: Spec = {"l0/W": (bw * bw * ch, z), "l0/b": (bw * bw * ch,)}
    # Deconvolution2D W: (in, out, k, k); its bias has `out` entries
    spec |= {"dc1/W": (ch, ch // 2, 4, 4), "dc1/b": (ch // 2,), "dc2/W": (ch // 2, ch // 4, 4, 4),
             "dc2/b": (ch // 4,), "dc3/W": (ch // 4, ch // 8, 4, 4), "dc3/b": (ch // 8,),
             "dc4/W": (ch // 8, 3, 3, 3), "dc4/b": (3,)}
    spec |= _bn("bn0", bw * bw * ch) | _bn("bn1", ch // 2) | _bn("bn2", ch // 4) | _bn("bn3", ch // 8)
    if attention:
        spec |= self_attn("sa1", ch // 4)
    return spec


def wgan_discriminator(bw: int, ch: int = 512) -> Spec:
    convs = {"c0": (ch // 8, 3, 3, 3), "c1": (ch // 4, ch // 8, 4, 4), "c1_0": (ch // 4, ch // 4, 3, 3),
             "c2": (ch // 2, ch // 4, 4, 4), "c2_0": (ch // 2, ch // 2, 3, 3), "c3": (ch, ch // 2, 4, 4),
             "c3_0": (ch, ch, 3, 3), "l4": (1, bw * bw * ch)}
    return {k: v for name, w in convs.items() for k, v in _link(name, w).items()}


def sndcgan_discriminator(bw: int, ch: int = 512, attention: bool = False) -> Spec:
    convs = {"c0_0": (ch // 8, 3, 3, 3), "c0_1": (ch // 4, ch // 8, 4, 4), "c1_0": (ch // 4, ch // 4, 3, 3),
             "c1_1": (ch // 2, ch // 4, 4, 4), "c2_0": (ch // 2, ch // 2, 3, 3), "c2_1": (ch, ch // 2, 4, 4),
             "c3_0": (ch, ch, 3, 3), "l4": (1, bw * bw * ch)}
    spec = {k: v for name, w in convs.items() for k, v in _link(name, w).items()}
    if attention:
        spec |= self_attn("sa1", ch // 4)
    return spec


def _ccbn(prefix: str, n: int, n_classes: int) -> Spec:
    return {f"{prefix}/gammas/W": (n_classes, n), f"{prefix}/betas/W": (n_classes, n),
            f"{prefix}/avg_mean": (n,), f"{prefix}/avg_var": (n,), f"{prefix}/N": ()}


def resnet_generator(ch: int = 64, n_classes: int = 1000, z: int = 128, bw: int = 4) -> Spec:
    """sngan_projection ResNetGenerator."""
    spec: Spec = {"l1/W": (bw * bw * ch * 16, z), "l1/b": (bw * bw * ch * 16,)}
    stages = [("block2", 16, 16), ("block3", 16, 8), ("block4", 8, 4), ("block5", 4, 2), ("block6", 2, 1)]
    for name, a, b in stages:
        cin, cout = a * ch, b * ch
        spec |= _link(f"{name}/c1", (cout, cin, 3, 3)) | _link(f"{name}/c2", (cout, cout, 3, 3))
        spec |= _ccbn(f"{name}/b1", cin, n_classes) | _ccbn(f"{name}/b2", cout, n_classes)
        spec |= _link(f"{name}/c_sc", (cout, cin, 1, 1))
    spec |= _bn("b7", ch) | _link("l7", (3, ch, 3, 3))
    return spec


def projection_discriminator(ch: int = 64, n_classes: int = 1000) -> Spec:
    """sngan_projection SNResNetProjectionDiscriminator (SN links save u: (1, rows))."""
    spec: Spec = {}
    spec |= _link("block1/c1", (ch, 3, 3, 3), ch) | _link("block1/c2", (ch, ch, 3, 3), ch)
    spec |= _link("block1/c_sc", (ch, 3, 1, 1), ch)
    for name, a, b, down in [("block2", 1, 2, True), ("block3", 2, 4, True), ("block4", 4, 8, True),
                             ("block5", 8, 16, True), ("block6", 16, 16, False)]:
        cin, cout = a * ch, b * ch
        spec |= _link(f"{name}/c1", (cin, cin, 3, 3), cin) | _link(f"{name}/c2", (cout, cin, 3, 3), cout)
        if down or cin != cout:
            spec |= _link(f"{name}/c_sc", (cout, cin, 1, 1), cout)
    spec |= _link("l7", (1, 16 * ch), 1)
    spec |= {"l_y/W": (n_classes, 16 * ch), "l_y/u": (1, n_classes)}
    return spec


def random_arrays(spec: Spec, seed: int = 0, scale: float = 0.1) -> dict[str, np.ndarray]:
    """Plausible random values: positive variances and gammas near 1, integer N."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, shape in spec.items():
        leaf = key.rsplit("/", 1)[-1]
        if leaf == "N":
            out[key] = np.asarray(7, dtype=np.int64)
        elif leaf == "avg_var":
            out[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif key == "sa1/gamma":  # non-zero so that the attention branch matters
            out[key] = np.asarray([0.5], dtype=np.float32)
        elif leaf == "gamma" or key.endswith("gammas/W"):
            out[key] = (1 + scale * rng.standard_normal(shape)).astype(np.float32)
        else:
            out[key] = (scale * rng.standard_normal(shape)).astype(np.float32)
    return out


def power_sigma(w: np.ndarray, steps: int = 2000) -> float:
    """Chainer's power iteration (``max_singular_value``) on W reshaped to (W.shape[0], -1), converged."""
    mat = w.reshape(w.shape[0], -1).astype(np.float64)
    u = np.random.default_rng(0).normal(size=mat.shape[0])
    for _ in range(steps):
        v = mat.T @ u
        v /= np.linalg.norm(v)
        u = mat @ v
        u /= np.linalg.norm(u)
    return float(u @ mat @ v)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


def torch_name(key: str) -> str | None:
    """The torch state-dict name a Chainer key should load into (None: not loaded)."""
    *prefix, leaf = key.split("/")
    if leaf in ("u", "N"):
        return None
    if prefix and prefix[-1] == "sa1" and leaf == "gamma":
        return "sa1.gamma"
    names = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias",
             "avg_mean": "running_mean", "avg_var": "running_var"}
    return ".".join([*prefix, names[leaf]])


def torch_shapes(spec: Spec) -> dict[str, tuple[int, ...]]:
    return {name: shape for key, shape in spec.items() if (name := torch_name(key)) is not None}
