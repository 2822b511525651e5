"""Which harness source files a stage runs, found by following its imports (DVC does not).

The scan is static and includes imports inside functions (lazy imports), so a stage's declared
deps cover code it only imports when it runs. Entry code resolved from the registries
(builders, loaders, measurement functions) is added per stage by the generator.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "harness"


def module_file(module: str, repo: Path) -> Path | None:
    """``harness.a.b`` → ``harness/a/b.py`` or ``harness/a/b/__init__.py`` (relative), if it exists."""
    rel = Path(*module.split("."))
    for cand in (rel.with_suffix(".py"), rel / "__init__.py"):
        if (repo / cand).is_file():
            return cand
    return None


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported_modules(path: Path, module: str) -> frozenset[str]:
    stat = path.stat()
    return _parse_imports(str(path.resolve()), module, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parse_imports(path: str, module: str, mtime_ns: int, size: int) -> frozenset[str]:
    """The harness modules one file imports; cached per (file, modification time, size): the
    generator follows ~100 overlapping closures, and parsing each file once saves seconds."""
    del mtime_ns, size  # only part of the cache key
    path = Path(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return frozenset(found)


def module_closure(modules: list[str], repo: str | Path = ".") -> list[str]:
    """Files (relative, sorted) of ``modules`` and of every harness module they import, transitively,
    including the package ``__init__`` files that importing them executes."""
    repo = Path(repo)
    seen: set[str] = set()
    files: set[Path] = set()
    todo = list(modules)
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        f = module_file(mod, repo)
        if f is None:
            continue  # an attribute imported with `from x import name`, not a module
        files.add(f)
        todo.extend(_parents(mod))
        todo.extend(_imported_modules(repo / f, mod))
    return sorted(str(f) for f in files)


def code_ref_module(ref: str) -> str:
    """``harness.models.mlp:build_mlp`` → ``harness.models.mlp``."""
    return ref.partition(":")[0]
