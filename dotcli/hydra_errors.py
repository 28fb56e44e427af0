"""Hydra's own errors as dotcli's one line with exit 2.

Hydra reports a bad command line in several lines (an unknown option of a config group with the search path, an
unknown key with advice to append it with ``+``, a lexer error with a link, argparse's usage block) and exits 1.
:func:`one_line_errors` wraps a Hydra app so that each of these becomes ``PROG: error: <line>`` naming what was
wrong and what is allowed: the group's options, the nearest existing key, how to quote a value. Anything else
(a bug in a job) is left to Hydra's own report; ``HYDRA_FULL_ERROR=1`` still gives Hydra's full traceback.

Hydra offers no hook for its error report, so the wrapper replaces ``hydra._internal.utils.run_and_report`` (the
one function every step of ``_run_hydra`` goes through) and the argument parser's ``error`` while the app runs,
and puts both back after. Should a later Hydra rename them, the app runs with Hydra's own messages.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: characters that make Hydra's override grammar read a value as something other than one plain string
GRAMMAR_CHARS = "= , [ ] { } ( ) or quotes"


def _user_overrides() -> list[str]:
    """The overrides on this process's command line (``key=value``, ``+key=value``, ``~key``), flags left out."""
    return [a for a in sys.argv[1:] if not a.startswith("-") and ("=" in a or a.startswith("~"))]


def _compose_keys(parent: str, drop: str, overrides: list[str] | None = None) -> list[str] | None:
    """The keys of ``parent`` in the config composed from ``overrides`` (default: the command line's) without the
    override of ``drop`` (the one that failed); ``None`` when that does not compose either."""
    try:
        from hydra import compose
        from omegaconf import OmegaConf

        keep = [o for o in (_user_overrides() if overrides is None else overrides)
                if o.lstrip("+~").split("=", 1)[0] != drop and not o.lstrip("+~").startswith("hydra")]
        cfg = compose(config_name="run", overrides=keep)
        node = OmegaConf.select(cfg, parent) if parent else cfg
        return sorted(str(k) for k in node if k != "hydra" and not str(k).startswith("_")) \
            if OmegaConf.is_dict(node) else None
    except Exception:  # no initialised Hydra, or the rest of the command line has its own error
        return None


def unknown_key_line(key: str, value: str | None, overrides: list[str] | None = None) -> str:
    """``method.epss=1``: the key does not exist; name the nearest key of its parent and all of them."""
    parent, _, leaf = key.rpartition(".")
    keys = _compose_keys(parent, key, overrides)
    shown = f"{key}={value}" if value is not None else key
    if not keys:
        return f"{shown}: {key} is not a key of the config (a typo?)"
    close = difflib.get_close_matches(leaf, keys, n=1, cutoff=0.6)
    hint = f"did you mean {parent + '.' if parent else ''}{close[0]}? " if close else ""
    where = f"the keys of {parent}" if parent else "the top-level keys"
    return f"{shown}: {key} is not a key of the config (a typo?); {hint}{where} are: {', '.join(keys)}"


def missing_option_line(exc: Any) -> str:
    """``method=dott``: the config group has no such option; list the ones it has."""
    missing = str(getattr(exc, "missing_cfg_file", "") or "")
    group, _, name = missing.rpartition("/")
    options = [o for o in (getattr(exc, "options", None) or []) if not o.startswith("_")]
    if group and options:
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
        hint = f"did you mean {group}={close[0]}? " if close else ""
        return f"{group}={name} is not an option of {group}; {hint}the options are: {', '.join(options)}"
    return _first_line(str(exc))


def parse_error_line(exc: Any) -> str:
    """An override the grammar cannot read (``hydra.run.dir=/tmp/a=b``): say how to quote it."""
    override = str(getattr(exc, "override", "") or "")
    detail = [ln for ln in str(getattr(exc, "message", exc)).splitlines()
              if ln.strip() and not ln.startswith(("See https", "Error parsing override"))]
    reason = detail[0].strip() if detail else "it does not parse"
    key, eq, value = override.partition("=")
    example = f"'{key}=\"{value}\"'" if eq and '"' not in value else f"'{key}=\\'VALUE\\''"
    return (f"cannot read the override {override!r} ({reason}): quote a value that holds {GRAMMAR_CHARS}, "
            f"e.g. {example} (single quotes for the shell, double quotes for Hydra)")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("See https")]
    return "; ".join(lines[:4]) if lines else text


def hydra_error_line(exc: BaseException, overrides: list[str] | None = None) -> str | None:
    """One line for an error of Hydra's own (composition, grammar, search path); ``None`` for anything else.
    ``overrides``: what was composed (default: this process's command line; the Python API passes its own)."""
    from hydra.errors import (
        CompactHydraException,
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )

    if isinstance(exc, MissingConfigException):
        return missing_option_line(exc)
    if isinstance(exc, OverrideParseException):
        return parse_error_line(exc)
    text = str(exc)
    if isinstance(exc, ConfigCompositionException):
        found = re.search(r"Could not override '([^']+)'", text)
        cause = str(exc.__cause__ or "")
        if found and ("not in struct" in cause or "not in struct" in text):
            key = found.group(1)
            given = _user_overrides() if overrides is None else overrides
            value = next((o.split("=", 1)[1] for o in given if o.split("=", 1)[0] == key), None)
            return unknown_key_line(key, value, overrides)
        found = re.search(r"An item is already at '([^']+)'", text)
        if found:
            return f"+{found.group(1)}=...: {found.group(1)} exists already; drop the + to change it"
    if isinstance(exc, CompactHydraException):
        cause = exc.__cause__
        return _first_line(text) + (f" ({_first_line(str(cause))})" if cause and str(cause) not in text else "")
    return None


class _OneLineParser(argparse.ArgumentParser):
    """Hydra's argument parser, whose errors are one line (not the usage block) and exit 2."""

    prog_label = "dot-run"

    def error(self, message: str) -> Any:
        hint = ""
        if "unrecognized arguments" in message:
            hint = "; options (-m/--multirun, --cfg job, --help, --resolve) go before the overrides"
        print(f"{self.prog_label}: error: {message}{hint}", file=sys.stderr, flush=True)
        sys.exit(2)


@contextmanager
def one_line_errors(prog: str, job_failure: Callable[[BaseException], str | None]) -> Iterator[None]:
    """Run a Hydra app with its errors as ``PROG: error: <line>`` and exit 2 (see the module docstring).

    ``job_failure(exc)``: the line for an exception a job raised (a multirun's summary), or ``None``.
    """
    import importlib

    from hydra._internal import utils as hydra_utils

    main_module = importlib.import_module("hydra.main")  # the module (hydra.main is also the decorator's name)
    report = getattr(hydra_utils, "run_and_report", None)
    make_parser = getattr(main_module, "get_args_parser", None)
    if report is None or make_parser is None:  # a Hydra that renamed them: its own messages
        yield
        return

    def run_and_report(func: Callable[[], Any]) -> Any:
        stderr = sys.stderr
        sys.stderr = _DropLines(stderr, JOB_FAILED_NOTE)  # the job's own line and the summary say it
        try:
            return func()
        except Exception as exc:
            sys.stderr = stderr
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            line = hydra_error_line(exc) or job_failure(exc)
            if line is None:  # not Hydra's error and not a job's: Hydra's own report (a bug: its traceback)
                return report(functools.partial(_reraise, exc))
            print(f"{prog}: error: {line}", file=sys.stderr, flush=True)
            sys.exit(2)
        finally:
            sys.stderr = stderr

    def get_args_parser() -> argparse.ArgumentParser:
        parser = make_parser()
        parser.__class__ = type("Parser", (_OneLineParser,), {"prog_label": prog})
        return parser

    hydra_utils.run_and_report = run_and_report
    main_module.get_args_parser = get_args_parser
    try:
        yield
    except ValueError as exc:  # Hydra's own argument checks (``--resolve`` without ``--cfg``...), raised bare
        if exc.__traceback__ is None or "hydra" not in _last_frame_file(exc):
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    finally:
        hydra_utils.run_and_report = report
        main_module.get_args_parser = make_parser


#: what Hydra writes on stderr when a multirun's sweeper meets a failed job (besides raising its exception)
JOB_FAILED_NOTE = "Error executing job with overrides:"


class _DropLines:
    """``sys.stderr`` minus writes that start with ``prefix`` (Hydra's note before re-raising a job's error)."""

    def __init__(self, stream: Any, prefix: str) -> None:
        self._stream, self._prefix = stream, prefix

    def write(self, text: str) -> int:
        return len(text) if text.startswith(self._prefix) else self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _reraise(exc: BaseException) -> Any:
    raise exc


def _last_frame_file(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename if tb is not None else ""
