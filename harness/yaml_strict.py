"""Strict YAML loading: duplicate mapping keys are an error, not a silent overwrite.

PyYAML's ``safe_load`` keeps the last of two equal keys, so a registry entry pasted twice
would silently replace the first. This loader records every key's line and refuses repeats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class DuplicateKeyError(ValueError):
    """A mapping holds the same key twice."""

    def __init__(self, path: str, key: str, first_line: int, second_line: int, where: str) -> None:
        self.path, self.key, self.first_line, self.second_line, self.where = (
            path,
            key,
            first_line,
            second_line,
            where,
        )
        super().__init__(
            f"{path}:{second_line}: duplicate key {key!r} in {where} "
            f"(first defined on line {first_line}); YAML would silently keep only the last one"
        )


class _StrictLoader(yaml.SafeLoader):
    source_path = "<string>"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                where = f"the mapping starting on line {node.start_mark.line + 1}"
                raise DuplicateKeyError(self.source_path, str(key), seen[key], line, where)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def load_yaml_strict(path: str | Path) -> Any:
    """Parse a YAML file, refusing duplicate keys (with both line numbers in the error)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    loader = _StrictLoader(text)
    loader.source_path = str(path)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
