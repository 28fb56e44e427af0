"""Checks made from the config alone, before any dataset, model or weights file is loaded.

Two entry points:

* :func:`check_config` imports neither torch nor a sampler: ``dot-run`` calls it before the heavy
  imports, so a typo (``seed=abc``, ``method.eps=abc``) costs the Hydra start-up, not a model load.
  The types of the method's keys come from the sampler constructor's type hints, read from its
  source (``ast``) without importing it.
* :func:`check_run` (called once at the top of :func:`dotcli.runner.run`) repeats those checks, builds
  the sampler once (its constructor checks ranges: ``eps >= 0``, ``space`` in target|latent...),
  checks the model keys whose wrong values would otherwise raise deep inside a loader.
"""

from __future__ import annotations

import ast
import importlib.util
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dotcli import DotcliError

# Model keys that a loader hands to code raising a bare ValueError: their allowed values.
PRIORS = ("uniform", "normal")
D_OUTPUTS = ("critic", "logit")


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------- top-level keys


# Records keep the seed as a JSON integer and dot-table reads it into a 64-bit integer column: the real limit
# (the generators themselves take any integer >= 0 through numpy's SeedSequence).
SEED_LIMIT = 2**63 - 1


def check_top_level(cfg: DictConfig) -> None:
    """``seed``, ``trials``, ``n_samples``, ``batch_size``: integers in range."""
    seed = cfg.get("seed")
    if not (_is_int(seed) and 0 <= seed <= SEED_LIMIT):
        raise DotcliError(f"seed={seed!r} is not valid; expected an integer from 0 to {SEED_LIMIT} (2**63 - 1, "
                          "the largest a record's 64-bit seed column holds)")
    for key, low in (("n_samples", 2), ("trials", 1), ("batch_size", 1)):
        value = cfg.get(key)
        if not (_is_int(value) and value >= low):
            raise DotcliError(f"{key}={value!r} is not valid; expected an integer >= {low}")


# ---------------------------------------------------------------- keys typed by the packaged defaults


def _packaged(name: str) -> dict[str, Any]:
    """A config file shipped in ``dotcli/configs`` (``run``, ``metrics/default``, ``paths/default``), unresolved."""
    from importlib import resources

    node = OmegaConf.load(str(resources.files("dotcli.configs").joinpath(f"{name}.yaml")))
    return OmegaConf.to_container(node, resolve=False)


def _nearest(key: str, keys: list[str], prefix: str = "") -> str:
    """``did you mean PREFIX.NEAREST? `` for the known key closest to ``key``; "" when none is close."""
    import difflib

    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    return f"did you mean {prefix}{close[0]}? " if close else ""


def _expect_like(key: str, value: Any, default: Any) -> None:
    """``value`` has the type of the packaged ``default``: booleans only true/false (``no`` is not false)."""
    if isinstance(default, str) and "${" in default or default is None:
        return  # an interpolation or null: the key's reader checks it
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise DotcliError(f"{key}={value!r} is not valid; expected true or false")
    elif _is_int(default):
        if not _is_int(value):
            raise DotcliError(f"{key}={value!r} is not valid; expected an integer")
    elif isinstance(default, float):
        if not _is_number(value) or not math.isfinite(value):
            raise DotcliError(f"{key}={value!r} is not valid; expected a finite number")
    elif isinstance(default, str) and not isinstance(value, str):
        raise DotcliError(f"{key}={value!r} is not valid; expected a string")


def check_against_defaults(node: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str,
                           closed: bool = True) -> None:
    """Each key of ``node`` has its packaged default's type; with ``closed``, a key the defaults lack is an
    error naming the nearest key (nothing reads it: it would be ignored)."""
    for key, value in node.items():
        where = f"{prefix}{key}"
        if key not in defaults:
            if closed:
                known = sorted(k for k in defaults if k != "defaults")
                hint = _nearest(str(key), known, prefix)
                raise DotcliError(f"{where} is not a key of dot-run's config (a typo?); {hint}"
                                  f"the keys{' of ' + prefix.rstrip('.') if prefix else ''} are: {', '.join(known)}")
            continue
        default = defaults[key]
        if isinstance(default, Mapping) and isinstance(value, Mapping):
            check_against_defaults(value, default, f"{where}.", closed)
        else:
            _expect_like(where, value, default)


def check_typed_keys(cfg: DictConfig) -> None:
    """Top-level keys, ``preflight``, ``paths`` and ``metrics`` against the packaged configs: no unknown key
    (``+seeed=1``), booleans only ``true``/``false`` (``save_samples=no`` would otherwise save samples)."""
    run = _packaged("run")
    top = {k: v for k, v in run.items() if k not in ("defaults", "hydra")}
    top.update({g: {} for d in run.get("defaults", []) if isinstance(d, Mapping)
                for g, choice in d.items() if choice is not None and "/" not in g and not g.startswith("override ")})
    plain = {k: _plain(cfg[k]) for k in cfg if k != "hydra"}
    check_against_defaults({k: v for k, v in plain.items() if k not in ("model", "method", "dataset", "metrics",
                                                                           "paths")}, top, "")
    for group, closed in (("metrics", True), ("paths", True)):
        if isinstance(plain.get(group), Mapping):
            check_against_defaults(plain[group], _packaged(f"{group}/default"), f"{group}.", closed)


def _config_groups() -> set[str]:
    from importlib import resources

    root = resources.files("dotcli.configs")
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")}


def check_added_keys(cfg: DictConfig, overrides: list[str]) -> None:
    """``+key=value`` overrides add a key no config has. Only a node built from its ``_target_`` (``method``,
    ``model.G``, ``dataset.data``...) takes new keys, and its constructor's check names a wrong one; anywhere
    else nothing would read the key: an error naming it."""
    groups = _config_groups()
    added = {o.lstrip("+").split("=", 1)[0].strip() for o in overrides if o.startswith("+") and o[1:2] != "+"}
    for override in overrides:
        if not override.startswith("+") or override.startswith("++"):  # ++key: add or change, either is meant
            continue
        key = override.lstrip("+").split("=", 1)[0].strip()
        if not key or key.startswith("hydra") or "/" in key or key in groups or "@" in key:
            continue  # Hydra's own keys, config groups (+experiment=...), packages
        parts = key.split(".")
        node: Any = cfg
        takes_new = False
        for part in parts[:-1]:  # the key is in the composed config: find a _target_ above it
            node = node.get(part) if OmegaConf.is_dict(node) else None
            takes_new = takes_new or (OmegaConf.is_dict(node) and "_target_" in node)
        if takes_new:
            continue

        def only_added(path: list[str]) -> bool:  # a key (or a node of keys) that only + overrides made
            at = OmegaConf.select(cfg, ".".join(path))
            if ".".join(path) in added:
                return True
            return OmegaConf.is_dict(at) and len(at) > 0 and all(only_added([*path, str(k)]) for k in at)

        def own_keys(path: list[str]) -> list[str]:  # the keys a config gives there (not the added ones)
            at = OmegaConf.select(cfg, ".".join(path)) if path else cfg
            return sorted(str(k) for k in at if k != "hydra" and not only_added([*path, str(k)])) \
                if OmegaConf.is_dict(at) else []

        depth = len(parts) - 1
        while depth > 0 and not own_keys(parts[:depth]):  # model.G.z_dim where no model.G exists: name model.G
            depth -= 1
        parent, missing = ".".join(parts[:depth]), parts[depth]
        keys = own_keys(parts[:depth])
        where = f"{parent} has" if parent else "the config has"
        raise DotcliError(f"{override}: {key} is not a key dotcli reads ({where} no {missing!r}; "
                          f"{_nearest(missing, keys, parent + '.' if parent else '')}keys there: "
                          f"{', '.join(keys) or 'none'}); drop the + only "
                          "to change a key that exists")


# ---------------------------------------------------------------- method keys, typed by the constructor


def _module_source(module: str) -> Path | None:
    """The ``.py`` file of a dotted module, found by walking its top package's directories: no package
    ``__init__`` below the top one runs (``dotcli.samplers`` imports torch)."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for base in spec.submodule_search_locations or []:
        path = Path(base, *rest[:-1])
        for candidate in (path / f"{rest[-1]}.py", path / rest[-1] / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _class_node(module: str, name: str, depth: int = 0) -> tuple[ast.ClassDef, str] | None:
    """The ``ClassDef`` of ``module.name`` and the module it lives in, found without importing anything."""
    source = _module_source(module)
    if source is None or depth > 5:
        return None
    try:
        tree = ast.parse(source.read_text())
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node, module
    for node in tree.body:  # re-exported from another module
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _class_node(node.module, alias.name, depth + 1)
    return None


def _init_annotations(module: str, name: str, depth: int = 0) -> dict[str, str] | None:
    """``{parameter: annotation source}`` of ``module.name.__init__``, following base classes; ``None``
    when the source cannot be read (a compiled or dynamic class: its constructor still checks)."""
    found = _class_node(module, name)
    if found is None or depth > 5:
        return None
    cls, where = found
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            args = item.args.args[1:] + item.args.kwonlyargs
            hints = {a.arg: ast.unparse(a.annotation) if a.annotation is not None else "" for a in args}
            if item.args.kwarg is not None:
                hints["**"] = ""  # takes any keyword: unknown keys are the constructor's business
            return hints
    for base in cls.bases:  # no __init__ of its own: the first base that has one
        if isinstance(base, ast.Name) and base.id not in ("ABC", "object"):  # those take no arguments
            base_module = where
            tree = ast.parse(_module_source(where).read_text())
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and node.module and any(
                        (a.asname or a.name) == base.id for a in node.names):
                    base_module = node.module
            hints = _init_annotations(base_module, base.id, depth + 1)
            if hints is None or hints:  # unreadable (unknown: no check) or found
                return hints
    return {}


def _accepts(kind: str, value: Any) -> bool:
    if kind == "None":
        return value is None
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return _is_int(value)
    if kind == "float":
        return _is_number(value)
    if kind == "str":
        return isinstance(value, str)
    return True  # a type this check does not know: the constructor decides


def check_value(key: str, annotation: str, value: Any) -> None:
    """``value`` fits ``annotation`` (``float``, ``int``, ``str``, ``bool``, ``None`` and unions of them).

    Numbers must be finite: no step size, count or percentile of a sampler means anything at inf/nan.
    """
    kinds = [k.strip() for k in annotation.replace("Optional[", "").rstrip("]").split("|")]
    if any(_accepts(k, value) for k in kinds):
        if isinstance(value, float) and not math.isfinite(value):
            raise DotcliError(f"{key}={value} is not valid; expected a finite number")
        return
    if "float" in kinds or "int" in kinds:
        if isinstance(value, str) and "str" not in kinds:
            raise DotcliError(f"{key}={value!r} is not a number")
        if "float" not in kinds and _is_number(value):
            raise DotcliError(f"{key}={value!r} is not valid; expected an integer")
    names = {"bool": "true or false", "None": "null", "str": "a string"}
    raise DotcliError(f"{key}={value!r} is not valid; expected {' or '.join(names.get(k, k) for k in kinds)}")


def check_method(method: Mapping[str, Any]) -> None:
    """Each key of the method config fits the sampler constructor's type hint; unknown keys are named."""
    target = method.get("_target_")
    if not isinstance(target, str) or "." not in target:
        raise DotcliError(f"method._target_={target!r} is not valid; expected a dotted class name")
    module, _, name = target.rpartition(".")
    hints = _init_annotations(module, name)
    if hints is None:
        return
    for key, value in method.items():
        if key.startswith("_") or key == "name":
            continue
        if key not in hints and "**" not in hints:
            takes = ", ".join(k for k in hints if k != "**") or "no parameters"
            raise DotcliError(f"method.{key} is not a parameter of {name}; it takes: {takes}")
        if hints.get(key):
            check_value(f"method.{key}", hints[key], value)


# ---------------------------------------------------------------- model keys


def _model_entries(cfg: DictConfig) -> list[tuple[str, Mapping[str, Any]]]:
    """The model config and its entry for this dataset (``model.files.<dataset>``), with their key prefixes."""
    model = _plain(cfg.model)
    out = [("model", model)]
    files = model.get("files") if isinstance(model, Mapping) else None
    entry = files.get(cfg.dataset.name) if isinstance(files, Mapping) else None
    if isinstance(entry, Mapping):
        out.append((f"model.files.{cfg.dataset.name}", entry))
    return out


def check_model(cfg: DictConfig) -> None:
    """``prior``, ``d_output`` (and ``sigma_source`` once torch is there) hold allowed values."""
    for prefix, node in _model_entries(cfg):
        for key, allowed in (("prior", PRIORS), ("d_output", D_OUTPUTS)):
            if node.get(key) is not None and node[key] not in allowed:
                raise DotcliError(f"{prefix}.{key}={node[key]!r} is not valid; expected {' or '.join(allowed)}")


def check_sigma_source(cfg: DictConfig) -> None:
    from dotcli.models.layers import SIGMA_SOURCES

    for prefix, node in _model_entries(cfg):
        if node.get("sigma_source") is not None and node["sigma_source"] not in SIGMA_SOURCES:
            raise DotcliError(f"{prefix}.sigma_source={node['sigma_source']!r} is not valid; "
                              f"expected {' or '.join(SIGMA_SOURCES)}")


# ---------------------------------------------------------------- metric and truncation keys


def check_prdc(cfg: DictConfig) -> None:
    """``metrics.prdc*``: a boolean switch, integer k >= 1, a cap of null or >= 2, and enough samples per trial
    for a k-th neighbour (k < the set size)."""
    metrics = _plain(cfg.get("metrics") or {})
    if not metrics.get("evaluate", True) or "prdc" not in metrics:
        return
    if not isinstance(metrics["prdc"], bool):
        raise DotcliError(f"metrics.prdc={metrics['prdc']!r} is not valid; expected true or false")
    if not metrics["prdc"]:
        return
    ks = []
    for key, default in (("prdc_k_pr", 3), ("prdc_k_dc", 5)):
        k = metrics.get(key, default)
        if not (_is_int(k) and k >= 1):
            raise DotcliError(f"metrics.{key}={k!r} is not valid; expected an integer >= 1")
        ks.append(k)
    cap = metrics.get("prdc_samples")
    if cap is not None and not (_is_int(cap) and cap >= 2):
        raise DotcliError(f"metrics.prdc_samples={cap!r} is not valid; expected null (all samples) or an integer >= 2")
    n = cfg.get("n_samples")
    size = n if cap is None or not _is_int(n) else min(n, cap)
    if _is_int(size) and size < max(ks) + 1:
        raise DotcliError(f"precision/recall/density/coverage compare {size} samples per trial with as many reference "
                          f"points, but metrics.prdc_k_pr={ks[0]} and metrics.prdc_k_dc={ks[1]} need at least "
                          f"{max(ks) + 1}; raise n_samples (or metrics.prdc_samples) or set metrics.prdc=false")


# ---------------------------------------------------------------- entry points


# Feature extractors that read metrics.inception_weights (the same TF-2015 Inception file).
INCEPTION_EXTRACTORS = ("inception-v3-compat", "inception-chainer-compat")


def _override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0].strip()


def unused_key_warnings(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """Keys set on the command line that this run's dataset, model or metrics do not read: one line each."""
    out = []
    toy = cfg.dataset.get("kind", "toy") == "toy"
    metrics = cfg.get("metrics") or {}
    extractor = str(metrics.get("feature_extractor", INCEPTION_EXTRACTORS[0]))
    for override in overrides:
        key = _override_key(override)
        if key != "metrics" and not key.startswith("metrics."):
            continue
        if toy and key != "metrics.evaluate" and not override.startswith(("metrics=default", "metrics=none")):
            out.append(f"{override if key == 'metrics' else key} is not used with dataset={cfg.dataset.name}: "
                       "the 2-D toys score HQ, modes and EMD, "
                       "which have no options; it is ignored")
        elif toy and override.startswith("metrics=none") or key == "metrics.evaluate" and toy:
            out.append(f"{override} is not used with dataset={cfg.dataset.name}: the 2-D toys are always scored "
                       "(HQ, modes, EMD take seconds); it is ignored")
        elif not toy and not metrics.get("evaluate", True) and key.startswith("metrics.") \
                and key != "metrics.evaluate":
            out.append(f"{key} is not used: metrics=none (metrics.evaluate=false) scores nothing; it is ignored")
        elif key == "metrics.inception_weights" and extractor not in INCEPTION_EXTRACTORS:
            out.append(f"metrics.inception_weights is not used: metrics.feature_extractor={extractor} does not read "
                       "the Inception weights; it is ignored")
        elif key in ("metrics.kid_subsets", "metrics.kid_subset_size") and not metrics.get("kid", False):
            out.append(f"{key} is not used without metrics.kid=true (KID is off); it is ignored")
    return out


def check_config(cfg: DictConfig, overrides: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every check that needs neither torch nor a file; returns warnings (lines for stderr).

    ``overrides``: the command line's overrides (Hydra's ``overrides.task``), for the checks of what the user
    set: ``+key=...`` adding a key nothing reads (an error), keys this run does not use (warnings).
    """
    check_top_level(cfg)
    check_typed_keys(cfg)
    check_added_keys(cfg, list(overrides))
    try:
        method = _plain(cfg.method)
    except Exception as exc:  # an interpolation that does not resolve
        raise DotcliError(f"the method config does not resolve: {exc}") from exc
    check_method(method)
    check_model(cfg)
    check_prdc(cfg)
    warnings = unused_key_warnings(cfg, list(overrides))
    metrics = cfg.get("metrics") or {}
    toy = cfg.dataset.get("kind", "toy") == "toy"
    if not toy and not metrics.get("evaluate", True) and not cfg.get("save_samples", False):
        warnings.append("metrics=none without save_samples=true: nothing is scored and the samples are not kept "
                        "(only the figure); add save_samples=true to keep them")
    return warnings


def check_run(cfg: DictConfig) -> None:
    """:func:`check_config` and the sampler's own constructor checks (missing inputs: the run's
    :func:`dotcli.preflight.explain_missing` names them all in one message)."""
    from dotcli.components import RUNNER_METHOD_KEYS, build

    check_config(cfg)
    check_sigma_source(cfg)
    method = {k: v for k, v in _plain(cfg.method).items() if k not in RUNNER_METHOD_KEYS}
    build(method, "method", "method")  # constructors check ranges; building one is cheap and loads nothing
    check_request_size(cfg)


def check_request_size(cfg: DictConfig) -> None:
    """The dataset's evaluation refuses a run it cannot score in bounded memory (the toys' exact EMD is n x n),
    before any model is loaded or sample drawn: one line naming the limit and the key to change."""
    from hydra.utils import get_class

    target = cfg.dataset.get("evaluation", {}).get("_target_")
    try:
        evaluation = get_class(target) if target else None
    except Exception:  # not importable: build() says so when the run builds it
        return
    check = getattr(evaluation, "check_request", None)
    if callable(check):
        check(int(cfg.n_samples), int(cfg.trials), cfg.get("metrics"))
