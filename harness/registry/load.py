"""Load and validate the registries: one clear error before any work starts.

Every problem names the file, the entry, the field and what was expected; all problems found
are reported together so one edit-run cycle fixes them all.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.measurements.schemes import PARTITION_SCHEMES
from harness.registry.schema import (
    BUILDER_INPUTS,
    ENTRY_MODELS,
    KEY_PATTERN,
    REGISTRY_FILES,
    ArchitectureEntry,
    DatasetEntry,
    MeasurementEntry,
    PhiSelection,
    StrictModel,
    SurveyProfile,
)
from harness.yaml_strict import DuplicateKeyError, load_yaml_strict

DEFAULT_REGISTRY_DIR = Path("registry")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a registry."""

    file: str
    entry: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.entry is not None:
            where += f": entry '{self.entry}'"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class RegistryError(ValueError):
    """The registries are invalid; ``problems`` lists each one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        body = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid registry ({len(problems)} problem(s)):\n{body}")


@dataclass(frozen=True)
class Registries:
    """The validated registries, plus the raw entries DVC tracks as params."""

    root: Path
    architectures: dict[str, ArchitectureEntry]
    datasets: dict[str, DatasetEntry]
    measurements: dict[str, MeasurementEntry]
    profiles: dict[str, SurveyProfile]
    raw: dict[str, dict[str, Any]] = field(repr=False)

    def lineage(self, registry: str, key: str) -> list[str]:
        """The entry's key and, for a variant, its base key: the params its stages depend on."""
        base = self.raw[registry][key].get("extends")
        return [key, base] if base else [key]

    def entry_hash(self, registry: str, key: str) -> str:
        """sha256 of the entry as written (and of its base), for provenance and cache keys."""
        payload = {k: self.raw[registry][k] for k in self.lineage(registry, key)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def resolve_code_ref(ref: str) -> Callable[..., Any]:
    """Import ``package.module:function`` and return the function."""
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    obj = getattr(module, attr)
    if not callable(obj):
        raise TypeError(f"{ref} is not callable")
    return obj


def _pydantic_problems(err: ValidationError, file: str, entry: str) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or None
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not part of the schema; check its spelling)"
        elif e["type"] != "missing":
            msg += f" (got {e['input']!r})"
        out.append(Problem(file, entry, loc, msg))
    return out


def _merge_variant(base: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """A variant lists only what differs; ``kwargs``/``tiny`` merge one key deep, the rest replace."""
    merged = {k: v for k, v in base.items()}
    for k, v in variant.items():
        if k in ("kwargs", "tiny") and isinstance(v, dict) and isinstance(base.get(k), dict):
            merged[k] = {**base[k], **v}
        else:
            merged[k] = v
    return merged


def _read_file(path: Path, registry: str, problems: list[Problem]) -> dict[str, Any]:
    name = str(path)
    if not path.is_file():
        problems.append(Problem(name, None, None, "file not found"))
        return {}
    try:
        data = load_yaml_strict(path)
    except DuplicateKeyError as err:
        problems.append(Problem(name, None, None, str(err).split(": ", 1)[1]))
        return {}
    except Exception as err:  # yaml.YAMLError and friends: report the parser's own words
        problems.append(Problem(name, None, None, f"not valid YAML: {err}"))
        return {}
    if not isinstance(data, dict) or set(data) != {registry}:
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        problems.append(
            Problem(
                name,
                None,
                None,
                f"expected one top-level key '{registry}:' mapping keys to entries (got {got})",
            )
        )
        return {}
    entries = data[registry] or {}
    if not isinstance(entries, dict):
        problems.append(Problem(name, None, registry, "expected a mapping of entry keys to entries"))
        return {}
    for key, value in entries.items():
        if not isinstance(key, str) or not re.match(KEY_PATTERN, key):
            problems.append(Problem(name, str(key), None, f"entry key must match {KEY_PATTERN}"))
        if not isinstance(value, dict):
            problems.append(Problem(name, str(key), None, f"expected a mapping, got {type(value).__name__}"))
    return {k: v for k, v in entries.items() if isinstance(v, dict)}


def _validate_entries(
    registry: str, file: str, raw: dict[str, dict[str, Any]], problems: list[Problem]
) -> dict[str, StrictModel]:
    model = ENTRY_MODELS[registry]
    out: dict[str, StrictModel] = {}
    for key, entry in raw.items():
        if "extends" in entry:
            base_key = entry["extends"]
            if "extends" not in model.model_fields:
                problems.append(Problem(file, key, "extends", f"{registry} entries cannot extend others"))
                continue
            if base_key not in raw:
                problems.append(
                    Problem(file, key, "extends", f"expected the key of an existing entry, got {base_key!r}")
                )
                continue
            if "extends" in raw[base_key]:
                problems.append(
                    Problem(
                        file, key, "extends", f"base {base_key!r} is itself a variant; one level deep only"
                    )
                )
                continue
            entry = _merge_variant(raw[base_key], entry)
        try:
            out[key] = model.model_validate(entry)
        except ValidationError as err:
            problems.extend(_pydantic_problems(err, file, key))
    return out


def _argument_types(fn: Callable[..., Any]) -> dict[str, Any]:
    """Parameter name → annotation of ``fn``, for the annotations that resolve (``typing.get_type_hints``
    fails as a whole on one unresolvable forward reference: then each is tried alone)."""
    import typing

    try:
        return {k: v for k, v in typing.get_type_hints(fn).items() if k != "return"}
    except Exception:
        hints = {}
        for name, annotation in inspect.get_annotations(fn).items():
            try:  # a string under `from __future__ import annotations`: evaluated in fn's module
                hints[name] = eval(annotation, fn.__globals__) if isinstance(annotation, str) else annotation
            except Exception:
                continue
        hints.pop("return", None)
        return hints


def _check_argument_values(
    fn: Callable[..., Any],
    ref: str,
    values: dict[str, dict[str, Any]],
    file: str,
    key: str,
    problems: list[Problem],
) -> None:
    """Each value of ``values`` (field prefix → {argument: value}, e.g. ``kwargs`` and ``tiny``) against
    the annotation of ``fn``'s parameter, as a YAML value would reach it: JSON semantics, strict (no
    string-to-number or boolean-to-number coercion; lists for tuples, ints for floats). Annotations that
    pydantic cannot validate (``nn.Module``, callables) are not checked."""
    import json

    from pydantic import TypeAdapter, ValidationError

    hints = _argument_types(fn)
    for prefix, args in values.items():
        for name, value in args.items():
            if name not in hints:
                continue
            try:
                adapter = TypeAdapter(hints[name])
            except Exception:  # an arbitrary class: nothing to check against
                continue
            try:
                adapter.validate_json(json.dumps(value), strict=True)
            except ValidationError as err:
                why = err.errors()[0]["msg"]
                expected = getattr(hints[name], "__name__", None) or str(hints[name]).replace("typing.", "")
                problems.append(
                    Problem(
                        file,
                        key,
                        f"{prefix}.{name}",
                        f"{ref} expects {expected} for {name!r}, got {value!r} ({why})",
                    )
                )
            except (TypeError, ValueError):  # not JSON-serializable: left to the builder
                continue


def _check_callable(
    ref: str,
    file: str,
    key: str,
    field_name: str,
    kwargs: set[str],
    problems: list[Problem],
    values: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Import ``ref``, check it accepts every argument in ``kwargs`` and, with ``values``, that each value
    matches the parameter's annotation (:func:`_check_argument_values`)."""
    try:
        fn = resolve_code_ref(ref)
    except Exception as err:
        problems.append(
            Problem(file, key, field_name, f"cannot import {ref!r} ({type(err).__name__}: {err})")
        )
        return
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    if values:
        _check_argument_values(fn, ref, values, file, key, problems)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    unknown = sorted(kwargs - set(sig.parameters))
    if unknown:
        problems.append(
            Problem(
                file,
                key,
                field_name,
                f"{ref} does not accept argument(s) {unknown}; it takes {list(sig.parameters)}",
            )
        )


def incompatibility(arch: ArchitectureEntry, dataset: DatasetEntry) -> str | None:
    """Why no declared adaptation rule feeds this dataset to this architecture (None when one does)."""
    from harness.registry.adaptation import IncompatibleInput, plan_adaptation

    try:
        plan_adaptation(dataset, arch)
    except IncompatibleInput as err:
        return str(err)
    return None


def compatible(arch: ArchitectureEntry, dataset: DatasetEntry) -> bool:
    """Whether a declared adaptation rule feeds this dataset to this architecture."""
    return incompatibility(arch, dataset) is None


def load_registries(
    root: str | Path = DEFAULT_REGISTRY_DIR, *, check_code: bool | set[tuple[str, str]] = True
) -> Registries:
    """Read, validate and cross-check every registry; raise one ``RegistryError`` listing all problems.

    ``check_code`` imports each builder/loader/function and checks its signature (imports torch):
    True for every entry, False for none, or a set of ``(registry, key)`` pairs (what a stage uses).
    """
    root = Path(root)
    problems: list[Problem] = []
    raw: dict[str, dict[str, Any]] = {}
    parsed: dict[str, dict[str, Any]] = {}
    for registry, filename in REGISTRY_FILES.items():
        file = str(root / filename)
        raw[registry] = _read_file(root / filename, registry, problems)
        parsed[registry] = _validate_entries(registry, file, raw[registry], problems)

    archs: dict[str, ArchitectureEntry] = parsed["architectures"]  # type: ignore[assignment]
    datasets: dict[str, DatasetEntry] = parsed["datasets"]  # type: ignore[assignment]
    measurements: dict[str, MeasurementEntry] = parsed["measurements"]  # type: ignore[assignment]
    profiles: dict[str, SurveyProfile] = parsed["profiles"]  # type: ignore[assignment]

    for key, ds in datasets.items():
        shape_ok = {"image": 3, "vector": 1, "sequence": 1, "graph": 1}.get(ds.modality)
        if shape_ok is not None and len(ds.shape) != shape_ok:
            problems.append(
                Problem(
                    str(root / REGISTRY_FILES["datasets"]),
                    key,
                    "shape",
                    f"a {ds.modality} sample has {shape_ok} dimension(s), got {ds.shape}",
                )
            )
        if ds.embedded and ds.split.test_fraction is None:
            problems.append(
                Problem(
                    str(root / REGISTRY_FILES["datasets"]),
                    key,
                    "split.test_fraction",
                    "an embedded dataset has no official test split: give a fraction in (0, 1)",
                )
            )
        if (ds.modality == "sequence") != (ds.vocab_size is not None):
            problems.append(
                Problem(
                    str(root / REGISTRY_FILES["datasets"]),
                    key,
                    "vocab_size",
                    "required for sequence data (and only for it)",
                )
            )
        if ds.tasks is not None:
            outside = sorted(c for c in ds.tasks.task_a + ds.tasks.task_b if c >= ds.num_classes)
            if outside:
                problems.append(
                    Problem(
                        str(root / REGISTRY_FILES["datasets"]),
                        key,
                        "tasks",
                        f"classes {outside} are not below num_classes={ds.num_classes}",
                    )
                )
        if ds.split.official_test_samples and ds.samples and ds.split.official_test_samples >= ds.samples:
            problems.append(
                Problem(
                    str(root / REGISTRY_FILES["datasets"]),
                    key,
                    "split.official_test_samples",
                    f"expected fewer than the dataset's {ds.samples} samples",
                )
            )
        if not ds.embedded and not ds.data_dir:
            problems.append(
                Problem(
                    str(root / REGISTRY_FILES["datasets"]),
                    key,
                    "data_dir",
                    "a real (non-embedded) dataset needs the folder under data.root that holds its files",
                )
            )

    _check_profiles(root, profiles, archs, datasets, measurements, problems, raw)

    def wanted(registry: str, key: str) -> bool:
        return check_code is True or (isinstance(check_code, set) and (registry, key) in check_code)

    if check_code:
        afile = str(root / REGISTRY_FILES["architectures"])
        for key, arch in archs.items():
            if not wanted("architectures", key):
                continue
            accepted = set(arch.kwargs) | set(arch.tiny) | set(BUILDER_INPUTS[arch.input])
            values = {"kwargs": arch.kwargs, "tiny": arch.tiny}
            _check_callable(arch.builder, afile, key, "builder", accepted, problems, values)
        dfile = str(root / REGISTRY_FILES["datasets"])
        for key, ds in datasets.items():
            if not wanted("datasets", key):
                continue
            extra = set() if ds.embedded else {"root"}
            _check_callable(
                ds.loader, dfile, key, "loader", set(ds.kwargs) | extra, problems, {"kwargs": ds.kwargs}
            )
        mfile = str(root / REGISTRY_FILES["measurements"])
        for key, m in measurements.items():
            if not wanted("measurements", key):
                continue
            _check_callable(m.function, mfile, key, "function", set(m.kwargs), problems, {"kwargs": m.kwargs})

    if problems:
        raise RegistryError(problems)
    return Registries(root, archs, datasets, measurements, profiles, raw)


PARTITION_FUNCTION = "harness.measurements.modules:capture_modules"


def _check_phi_schemes(
    pfile: str, name: str, keys: list[str], measurements: dict[str, MeasurementEntry], problems: list[Problem]
) -> None:
    """PHI's measurements are partition schemes: capture_modules entries, one of them the layer scheme."""
    schemes = []
    for k in keys:
        m = measurements.get(k)
        if m is None:
            continue  # reported as an unknown key below
        scheme = m.kwargs.get("scheme")
        if m.function != PARTITION_FUNCTION or scheme not in PARTITION_SCHEMES:
            problems.append(
                Problem(
                    pfile,
                    name,
                    "phi.measurements",
                    f"{k!r}: expected a partition scheme (function {PARTITION_FUNCTION}, kwargs.scheme one of "
                    f"{list(PARTITION_SCHEMES)})",
                )
            )
        schemes.append(scheme)
    if "layer" not in schemes:
        problems.append(
            Problem(
                pfile,
                name,
                "phi.measurements",
                "expected a scheme with kwargs.scheme = 'layer' (PCI uses it)",
            )
        )


def _inputs(d: DatasetEntry) -> str:
    vocab = f", vocabulary {d.vocab_size}" if d.vocab_size is not None else ""
    return f"{d.modality} {d.shape}{vocab}"


def transfer_incompatibility(source: DatasetEntry, target: DatasetEntry) -> str | None:
    """Why a network trained on ``source`` cannot be fine-tuned on ``target`` (None when it can)."""
    if "graph" in (source.modality, target.modality):
        return "expected non-graph datasets (a graph's network is bound to its own nodes)"
    if (source.modality, source.shape, source.vocab_size) != (
        target.modality,
        target.shape,
        target.vocab_size,
    ):
        return (
            f"the target's inputs are {_inputs(target)}; expected the source's, {_inputs(source)} (the "
            "fine-tuned network keeps the source's input layers)"
        )
    return None


def _check_phi_transfer_targets(
    pfile: str,
    name: str,
    sel: PhiSelection,
    datasets: dict[str, DatasetEntry],
    known: dict[str, Any],
    problems: list[Problem],
) -> None:
    """Each transfer target is a known dataset that takes its source's inputs; graphs are refused."""
    field = "phi.transfer_targets"
    for source, target in sel.transfer_targets.items():
        if source not in sel.datasets:
            problems.append(
                Problem(pfile, name, field, f"{source!r}: expected one of phi.datasets {sel.datasets}")
            )
            continue
        if target not in known:
            problems.append(
                Problem(
                    pfile,
                    name,
                    field,
                    f"{source!r} → {target!r}: expected a key of registry/{REGISTRY_FILES['datasets']}",
                )
            )
            continue
        src, tgt = datasets.get(source), datasets.get(target)
        if src is None or tgt is None:
            continue  # reported as an unknown or invalid entry
        why = "expected another dataset" if target == source else transfer_incompatibility(src, tgt)
        if why:
            problems.append(Problem(pfile, name, field, f"{source!r} → {target!r}: {why}"))


def _check_double_descent(pfile, name, sel, archs, datasets, raw, problems) -> None:
    """The double-descent family: known entries that fit together, and a base with a ``width``."""
    field = "genesis.double_descent"
    for registry, key in (("architectures", sel.architecture), ("datasets", sel.dataset)):
        if key not in raw[registry]:
            problems.append(
                Problem(pfile, name, field, f"{key!r}: expected a key of registry/{REGISTRY_FILES[registry]}")
            )
    arch, ds = archs.get(sel.architecture), datasets.get(sel.dataset)
    if arch is None or ds is None:
        return
    if "width" not in arch.kwargs:
        problems.append(
            Problem(
                pfile, name, field, f"{sel.architecture!r}: expected an entry with a kwargs.width to vary"
            )
        )
    why = incompatibility(arch, ds)
    if why:
        problems.append(
            Problem(pfile, name, field, f"{sel.architecture!r} cannot take {sel.dataset!r}: {why}")
        )


def _check_profiles(
    root: Path,
    profiles: dict[str, SurveyProfile],
    archs: dict[str, ArchitectureEntry],
    datasets: dict[str, DatasetEntry],
    measurements: dict[str, MeasurementEntry],
    problems: list[Problem],
    raw: dict[str, dict[str, Any]],
) -> None:
    # references are checked against the keys written in the files, so an entry that exists but is
    # invalid is reported once (as invalid), not again as "unknown" wherever it is referenced
    from harness.params import ParamsError, validate_params

    pfile = str(root / REGISTRY_FILES["profiles"])
    for name, profile in profiles.items():
        try:
            validate_params(profile.params, f"{pfile}: entry '{name}', field 'params'")
        except ParamsError as err:
            problems.append(
                Problem(pfile, name, "params", str(err).split("invalid parameters", 1)[1].strip())
            )
        else:
            ladder = profile.params.get("persist", {}).get("statistics", {}).get("ladder", [])
            for arch in ladder:
                width = archs[arch].kwargs.get("width") if arch in archs else None
                if not isinstance(width, (int, float)) or isinstance(width, bool):
                    problems.append(
                        Problem(
                            pfile,
                            name,
                            "params.persist.statistics.ladder",
                            f"{arch!r}: expected an architecture entry with a numeric kwargs.width",
                        )
                    )
            if profile.params["survey"]["profile"] != name:
                problems.append(
                    Problem(
                        pfile, name, "params.survey.profile", f"expected {name!r} (the profile's own key)"
                    )
                )
        if profile.phi is not None:
            _check_phi_schemes(pfile, name, profile.phi.measurements, measurements, problems)
            _check_phi_transfer_targets(pfile, name, profile.phi, datasets, raw["datasets"], problems)
        if profile.genesis is not None and profile.genesis.double_descent is not None:
            _check_double_descent(pfile, name, profile.genesis.double_descent, archs, datasets, raw, problems)
        for stage in ("train", "persist", "phi", "genesis"):
            sel = getattr(profile, stage)
            if sel is None:
                continue
            if stage == "persist":
                for d in sel.datasets:
                    ds = datasets.get(d)
                    if ds is not None and (ds.tasks is None or ds.modality == "graph"):
                        problems.append(
                            Problem(
                                pfile,
                                name,
                                "persist.datasets",
                                f"{d!r} cannot be split into two tasks: expected a non-graph dataset "
                                "whose entry declares tasks {task_a, task_b}",
                            )
                        )
            selected = {
                "architectures": [] if sel.architectures == "all" else sel.architectures,
                "exclude": sel.exclude,
                "datasets": sel.datasets,
                "measurements": sel.measurements,
            }
            for part, keys in selected.items():
                registry = "architectures" if part == "exclude" else part
                for k in keys:
                    if k not in raw[registry]:
                        problems.append(
                            Problem(
                                pfile,
                                name,
                                f"{stage}.{part}",
                                f"expected keys of registry/{REGISTRY_FILES[registry]}, got unknown {k!r}",
                            )
                        )
            # an explicitly listed architecture must be able to take at least one selected dataset
            # (pairs without a declared rule are skipped, as with `all`)
            for a in [] if sel.architectures == "all" else sel.architectures:
                known = [d for d in sel.datasets if d in datasets]
                if a in archs and known and not any(compatible(archs[a], datasets[d]) for d in known):
                    problems.append(
                        Problem(
                            pfile,
                            name,
                            f"{stage}.architectures",
                            f"{a!r} cannot take any of {known}: {incompatibility(archs[a], datasets[known[0]])}",
                        )
                    )
