"""`dot-run --help` lists every config group users choose with every option it ships (no `_base` folder) and each
method's keys with their defaults, read from the same files Hydra composes."""

from __future__ import annotations

import re

import pytest

from dotcli.api import compose
from dotcli.help import CONFIGS, USER_GROUPS, options
from tests.inprocess import dot_run_in_process


@pytest.fixture(scope="module")
def help_text(tmp_path_factory) -> str:
    proc = dot_run_in_process("--help", cwd=tmp_path_factory.mktemp("help"))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_group_and_option_is_listed(help_text):
    flat = _flat(help_text)
    for group in USER_GROUPS:
        shipped = sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))
        assert shipped and options(group) == shipped
        assert f" {group} {', '.join(shipped)}" in flat, group
    assert "_base" not in help_text
    assert re.search(r"hydra/launcher\s+basic, joblib.*, submitit_local.*, submitit_slurm.*, slurm", flat)


@pytest.mark.parametrize("method", options("method"))
def test_each_methods_keys_are_listed_with_the_defaults_the_toys_compose_to(help_text, method):
    block = _flat(help_text.split("Method keys and their defaults", 1)[1].split("Examples:", 1)[0])
    line = re.search(rf" {method} +(.*?)(?= (?:{'|'.join(options('method'))}) |$)", block).group(1)
    keys = {k: v for k, v in compose(f"method={method}").method.items() if not k.startswith("_") and k != "name"}
    if not keys:
        assert line.strip() == "(no keys)"
    for key, value in keys.items():
        shown = re.search(rf"(?:^|; ){key}=([^;]*)", line)
        assert shown, f"method.{key} is missing from the help of {method}"
        toy = str(value).lower() if isinstance(value, bool) else str(value)
        assert toy in shown.group(1), f"method.{key}: help says {shown.group(1)!r}, the toys compose {toy!r}"


def test_an_image_default_is_shown_beside_the_toys():
    from dotcli.help import help_text as part

    dot = _flat(part("methods")).split(" dot ", 1)[1]
    image = compose("method=dot", "dataset=cifar10").method
    assert f"space=toys target, images {image.space}" in dot
    assert f"optimizer=toys adam, images {image.optimizer}" in dot
    with pytest.raises(ValueError, match="unknown help part"):
        part("nosuch")
