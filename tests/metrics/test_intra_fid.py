"""Intra-class FID as a pure function: the mean of per-class FIDs computed from the formula, skipped classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.metrics.fidelity import fid_from_stats
from dotcli.metrics.intra_fid import intra_fid


def gaussian_classes(n_per_class, shift, seed):
    g = torch.Generator().manual_seed(seed)
    feats, labels = [], []
    for c, n in enumerate(n_per_class):
        feats.append(torch.randn(n, 4, generator=g) + shift * c)
        labels.append(torch.full((n,), c))
    return torch.cat(feats).double(), torch.cat(labels)


def test_mean_of_per_class_frechet_distances():
    ref, ref_y = gaussian_classes([40, 30, 50], 2.0, 0)
    gen, gen_y = gaussian_classes([20, 25, 30], 2.2, 1)
    refs = {c: (ref[ref_y == c].mean(0).numpy(), np.cov(ref[ref_y == c].numpy(), rowvar=False)) for c in range(3)}
    res = intra_fid(gen, gen_y, 3, lambda c: refs[c], np.array([40, 30, 50]))
    want = [fid_from_stats(gen[gen_y == c].mean(0).numpy(), np.cov(gen[gen_y == c].numpy(), rowvar=False), *refs[c])
            for c in range(3)]
    assert res.fid_per_class == pytest.approx(want, rel=1e-9)
    assert res.value == pytest.approx(np.mean(want), rel=1e-12)
    assert res.samples_per_class == [20, 25, 30] and res.classes_scored == 3 and res.classes_skipped == []
    # shuffling the samples changes nothing; a class's own reference gives the smallest distance
    perm = torch.randperm(len(gen), generator=torch.Generator().manual_seed(3))
    assert intra_fid(gen[perm], gen_y[perm], 3, lambda c: refs[c], np.array([40, 30, 50])).value == \
        pytest.approx(res.value, rel=1e-9)
    swapped = intra_fid(gen, gen_y, 3, lambda c: refs[(c + 1) % 3], np.array([40, 30, 50]))
    assert swapped.value > res.value + 1.0


def test_classes_without_two_samples_are_skipped_and_listed():
    ref, ref_y = gaussian_classes([10, 10, 10], 1.0, 0)
    refs = {c: (ref[ref_y == c].mean(0).numpy(), np.cov(ref[ref_y == c].numpy(), rowvar=False)) for c in range(3)}
    gen, gen_y = gaussian_classes([5, 1, 6], 1.0, 1)
    res = intra_fid(gen, gen_y, 3, lambda c: refs[c], np.array([10, 10, 10]))
    assert res.classes_skipped == [1] and res.fid_per_class[1] is None and res.classes_scored == 2
    assert res.value == pytest.approx(np.mean([res.fid_per_class[0], res.fid_per_class[2]]))
    no_ref = intra_fid(gen, gen_y, 3, lambda c: refs[c], np.array([10, 10, 1]))
    assert no_ref.classes_skipped == [1, 2]


def test_bad_labels_are_one_error():
    feats = torch.zeros(4, 2)
    with pytest.raises(DotcliError, match="labels span 0..5.*classes 0..2"):
        intra_fid(feats, torch.tensor([0, 1, 2, 5]), 3, lambda c: None, np.ones(3))
    with pytest.raises(DotcliError, match="no class has 2 or more"):
        intra_fid(feats, torch.tensor([0, 1, 2, 0]), 3, lambda c: None, np.array([1, 5, 5]))
