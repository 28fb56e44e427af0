"""`pip install .` (not only editable) must give a working dot-run: configs and assets are package data."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_configs_and_toy_checkpoints(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    wheel, = tmp_path.glob("dotcli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for group in ("dataset/gaussians25.yaml", "model/dotcli_wgangp.yaml", "method/dot.yaml", "run.yaml",
                  "experiment/toy_table.yaml"):
        assert f"dotcli/configs/{group}" in names
    assert "dotcli/configs/__init__.py" in names
    for dataset in ("gaussians25", "swissroll"):
        assert f"dotcli/assets/toy/dotcli_wgangp_{dataset}.pt" in names
    assert any(n.endswith("entry_points.txt") for n in names)
