"""Train the Fashion-MNIST classifier behind ``metrics.feature_extractor=fmnist-classifier``.

Recipe: :class:`dotcli.metrics.classifier.FmnistNet` (width 32), Adam(1e-3) with a cosine schedule,
batch 128, cross-entropy, dropout 0.3 before fc2, random horizontal flips (clothes are left-right
symmetric classes), ``--epochs`` passes over the 60k training images, seed 0. The images are the
dataset's own 32x32 form (zero-padded 28 -> 32). Test accuracy on the 10k test images goes into the recipe.

    python scripts/train_classifier.py --epochs 4 --out dotcli/assets/fmnist/fmnist_classifier.pt
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from dotcli.data.fashion_mnist import FashionMnist, grey_to_rgb32
from dotcli.metrics.classifier import FmnistNet, uint8_to_grey


def grey32(images) -> torch.Tensor:
    """uint8 (n, 28, 28) -> the classifier's input (n, 1, 32, 32), the same path the extractor takes."""
    return uint8_to_grey(grey_to_rgb32(images))


@torch.no_grad()
def accuracy(net: FmnistNet, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    pred = torch.cat([net(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((pred == y).float().mean())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default="~/.cache/dotcli/data")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    data = FashionMnist(args.data_root)
    x_train, y_train = grey32(data.images("train")), torch.from_numpy(data.labels("train"))
    x_test, y_test = grey32(data.images("test")), torch.from_numpy(data.labels("test"))
    net = FmnistNet(width=args.width)
    batch, lr = 128, 1e-3
    steps = args.epochs * math.ceil(len(x_train) / batch)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.time()
    bar = tqdm(total=steps, desc="FMNIST classifier", mininterval=10)
    for _ in range(args.epochs):
        net.train()
        perm = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            x = x_train[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            loss = F.cross_entropy(net(x), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", test_acc=f"{accuracy(net, x_test, y_test):.4f}")
    bar.close()
    acc = accuracy(net, x_test, y_test)
    recipe = {"width": args.width, "epochs": args.epochs, "batch": batch, "adam_lr": lr, "schedule": "cosine",
              "augment": "horizontal flip", "dropout": 0.3, "seed": args.seed, "test_accuracy": round(acc, 4),
              "train_seconds": round(time.time() - t0, 1), "input": "zero-padded 32x32 grey in [-1, 1]",
              "torch": str(torch.__version__), "script": "scripts/train_classifier.py"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": net.state_dict(), "recipe": recipe}, out)
    print(f"test accuracy {acc:.4f}; wrote {out}")


if __name__ == "__main__":
    main()
