"""Train the DOT paper's 32px DCGAN G with an SN-DCGAN D on any image dataset config (model ``dotcli_sndcgan``).

Recipe (SNGAN's DCGAN setting, Miyato et al. 2018, with the DOT paper's networks from dotcli.models.dcgan):
hinge loss (or non-saturating: ``--loss ns``), Adam(lr 2e-4, beta1 0, beta2 0.9) for both nets, ``--n-dis``
D steps per G step, batch 64, prior U[-1, 1]^128, width ``--ch`` (the paper's 512; 128 or 64 train on a CPU).
D's spectral norm is Miyato's: one power iteration per forward with a persistent ``u`` and the gradient
through sigma; the saved D is then evaluated with the exact sigma (what the iteration converges to).
Grey datasets (``channels = 1`` on the dataset, e.g. Fashion-MNIST) train 1-channel nets (see
dotcli.models.sndcgan). Real images: the dataset's reference set (``train`` for Fashion-MNIST), float in [-1, 1].

    python scripts/train_gan.py --dataset fashion_mnist --ch 128 --steps 3000 --seed 0 \
        --out runs/train/fmnist.pt --export dotcli/assets/fmnist/dotcli_sndcgan_fashion_mnist.pt

``--out`` is the training checkpoint (nets, optimisers, RNG states, power-iteration vectors): running the
same command again resumes from it (the recipe must match). ``--export`` writes only what the loader reads
(``{"G", "D", "recipe", "step"}``), for shipping. ``--minutes`` stops early (and saves) after that much time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from torch import nn
from tqdm import tqdm

from dotcli.data.images import from_uint8
from dotcli.models.dcgan import chainer_init_
from dotcli.models.layers import _FrozenSN
from dotcli.models.sndcgan import LOSSES, build_nets


class PowerIteration:
    """Miyato's training-time spectral norm on dotcli's frozen SN layers.

    Before each D forward, :meth:`update` does one power iteration per layer (``u``, ``v`` without gradient)
    and sets the layer's ``sigma`` to ``u . W v`` *with* the gradient w.r.t. ``W``, as Chainer's and torch's SN.
    """

    def __init__(self, net: nn.Module, gen: torch.Generator) -> None:
        self.layers = [m for m in net.modules() if isinstance(m, _FrozenSN)]
        self.u = [F.normalize(torch.randn(m.weight.shape[m._sn_dim], generator=gen), dim=0) for m in self.layers]

    def update(self) -> None:
        for i, m in enumerate(self.layers):
            w = m.weight.movedim(m._sn_dim, 0).reshape(m.weight.shape[m._sn_dim], -1)
            with torch.no_grad():
                v = F.normalize(w.T @ self.u[i], dim=0)
                self.u[i] = F.normalize(w @ v, dim=0)
            m.sigma = self.u[i] @ (w @ v)  # a graph node: gradient flows through sigma into W
            m._sigma_stale = False


def d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()  # non-saturating (logistic) D loss


def g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean() if loss == "hinge" else F.softplus(-fake).mean()


def open_dataset(name: str, data_root: str | None, allow_download: bool, extra: list[str] | None = None) -> Any:
    """The ``data`` object of ``configs/dataset/<name>.yaml`` (the same one dot-run builds).

    ``extra``: more Hydra overrides, e.g. ``dataset.data.debian_dir=null``.
    """
    overrides = [f"dataset={name}", f"paths.allow_download={str(allow_download).lower()}", *(extra or [])]
    if data_root:
        overrides.append(f"paths.data={data_root}")
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        cfg = compose(config_name="run", overrides=overrides)
    return instantiate(cfg.dataset.data, _convert_="all")


def train(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    data = open_dataset(args.dataset, args.data_root, args.allow_download, args.set)
    channels = int(getattr(data, "channels", 3))
    source, index = data.reference(), torch.from_numpy(data.reference_indices())
    recipe = {"dataset": args.dataset, "ch": args.ch, "channels": channels, "bottom_width": data.image_size // 8,
              "z_dim": 128, "prior": "uniform[-1,1]^128", "loss": args.loss, "n_dis": args.n_dis,
              "batch": args.batch, "adam": {"lr": args.lr, "betas": [0.0, 0.9]}, "seed": args.seed,
              "init": "Normal(0, 0.02), biases 0 (chainer-gan-lib)", "real_images": f"{data.reference_set} split",
              "script": "scripts/train_gan.py"}
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    G, D = build_nets(recipe)
    chainer_init_(G, gen)
    chainer_init_(D, gen)
    sn = PowerIteration(D, gen)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.0, 0.9))
    step, seconds = 0, 0.0
    out = Path(args.out)
    if out.is_file():  # resume: same recipe, restore everything that determines the next step
        ck = torch.load(out, map_location="cpu", weights_only=True)
        same = {k: v for k, v in ck["recipe"].items() if k in recipe}
        if same != recipe:
            raise SystemExit(f"{out} was trained with another recipe ({same}); use another --out")
        G.load_state_dict(ck["G"])
        D.load_state_dict(ck["D"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        sn.u = list(ck["sn_u"])
        gen.set_state(ck["gen_state"])
        torch.set_rng_state(ck["torch_rng"])
        step, seconds = int(ck["step"]), float(ck.get("train_seconds", 0.0))
        print(f"resumed from {out} at step {step}")
    G.train()
    D.train()

    def real_batch() -> torch.Tensor:
        idx = index[torch.randint(0, len(index), (args.batch,), generator=gen)]
        x = from_uint8(source.get(idx.numpy()))
        return x[:, :1] if channels == 1 else x  # grey sets repeat the channel: keep one

    def prior(n: int) -> torch.Tensor:
        return torch.rand(n, 128, generator=gen) * 2 - 1

    def save(path: Path, full: bool) -> None:
        blob: dict[str, Any] = {"G": G.state_dict(), "D": D.state_dict(),
                                "recipe": {**recipe, "steps": step, "train_seconds": round(seconds, 1),
                                           "torch": str(torch.__version__)}, "step": step}
        if full:
            blob.update(opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(), sn_u=sn.u, gen_state=gen.get_state(),
                        torch_rng=torch.get_rng_state(), train_seconds=seconds)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(blob, tmp)
        tmp.replace(path)  # atomic: an interrupted save never leaves a broken checkpoint

    t0 = time.time() - seconds
    bar = tqdm(total=args.steps, initial=step, desc=f"SN-DCGAN {args.dataset}", mininterval=10, dynamic_ncols=True)
    while step < args.steps:
        for _ in range(args.n_dis):
            real = real_batch()
            with torch.no_grad():
                fake = G(prior(args.batch))
            sn.update()
            loss_d = d_loss(args.loss, D(real), D(fake))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        sn.update()
        loss_g = g_loss(args.loss, D(G(prior(args.batch))))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        step += 1
        seconds = time.time() - t0
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(loss_d=f"{loss_d.item():.3f}", loss_g=f"{loss_g.item():.3f}")
        if step % args.save_every == 0:
            save(out, full=True)
        if args.minutes and seconds > 60 * args.minutes:
            print(f"time limit of {args.minutes} min reached at step {step}")
            break
    bar.close()
    # no extra power iteration here: it would move `u` and a resumed run would differ from a straight one
    save(out, full=True)
    if args.export:
        save(Path(args.export), full=False)
    return recipe


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="fashion_mnist", help="a dataset config name (configs/dataset/)")
    ap.add_argument("--data-root", default=None, help="paths.data (default: the config's)")
    ap.add_argument("--allow-download", action="store_true", help="paths.allow_download=true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a Hydra override for the dataset config (repeatable), e.g. dataset.data.debian_dir=null")
    ap.add_argument("--out", required=True, help="training checkpoint (resumed from when it exists)")
    ap.add_argument("--export", default=None, help="also write the loader-only checkpoint here at the end")
    ap.add_argument("--steps", type=int, default=3000, help="generator steps")
    ap.add_argument("--n-dis", type=int, default=1, help="D steps per G step")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--ch", type=int, default=128, help="width (the paper's 512)")
    ap.add_argument("--loss", choices=sorted(LOSSES), default="hinge")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-every", type=int, default=250)
    ap.add_argument("--minutes", type=float, default=0.0, help="stop (and save) after this many minutes; 0 = never")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
