"""YAML for hand-written registry files: PyYAML's safe loader, except that a key given twice in one
mapping is an error. PyYAML keeps the last value silently, so a duplicated `side_effects:` or
`patterns:` would quietly replace the first one."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError


class DuplicateKeyError(ConstructorError):
    """A mapping names the same key twice: `key`, its `line`, and the mapping's `name:` when it has one."""

    def __init__(self, key: Any, line: int, first_line: int, entry: str | None, mark: yaml.Mark):
        super().__init__(None, None, f"duplicate key {key!r} (first at line {first_line})", mark)
        self.key, self.line, self.first_line, self.entry = key, line, first_line, entry


# libyaml's parser where PyYAML was built with it (its wheels are): the registry is ~40 files read on
# every start-up, and the pure-Python scanner was most of a `bot ask` script answer's time.
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictSafeLoader(_BASE):  # type: ignore[misc, valid-type]
    """SafeLoader that rejects duplicate keys in any mapping."""


def _no_duplicates(loader: StrictSafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":     # `<<: *defaults` may be overridden
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:           # an unhashable key: let the normal constructor explain it
            break
        if first is not None:
            raise DuplicateKeyError(key, key_node.start_mark.line + 1, first.start_mark.line + 1,
                                    _name_of(node), key_node.start_mark)
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


def _name_of(node: yaml.MappingNode) -> str | None:
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) == "name" and isinstance(value_node, yaml.ScalarNode):
            return str(value_node.value)
    return None


StrictSafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, but a duplicate key raises DuplicateKeyError (a yaml.YAMLError)."""
    return yaml.load(text, Loader=StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass


def one_line(exc: yaml.YAMLError) -> str:
    """A YAML error as one line: the problem and where (`line 4, column 3`)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())
