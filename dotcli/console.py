"""Find a console script of this installation the way a shell would, for subprocesses (tests, dot-reproduce)."""

from __future__ import annotations

import shutil
import sys
from importlib import metadata
from pathlib import Path


def console_command(name: str) -> list[str]:
    """The argv prefix that runs the console script ``name`` (``dot-run``, ``dot-table``, ...).

    Looked for beside the running interpreter first (a venv used without activating it), then on ``PATH``
    (``pip install --user``, a system interpreter), else the entry point is called through this interpreter
    (``pip install --target``, a source checkout on ``PYTHONPATH``), so the same package answers every time.
    """
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return [str(beside)]
    found = shutil.which(name)
    if found:
        return [found]
    points = [ep for ep in metadata.entry_points(group="console_scripts") if ep.name == name]
    target = points[0].value if points else {"dot-run": "dotcli.cli:run_entry"}.get(name)
    if target is None:
        raise FileNotFoundError(f"console script {name!r} is not installed with this Python ({sys.executable})")
    module, func = target.split(":")
    return [sys.executable, "-c", f"import sys; from {module} import {func}; sys.exit({func}())"]
