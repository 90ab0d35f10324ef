"""Frozen dataclass configs as the single source of defaults, help text and CLI flags.

A field's docstring (the string literal written under it, as in CleanRL/tyro style)
becomes its ``--flag`` help. We read those docstrings with ``ast`` because Python
keeps no reference to them at run time.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import json
import textwrap
import types
import typing
from typing import Any, TypeVar

C = TypeVar("C")


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Map each field of a dataclass to the docstring written under it."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _scalar_type(annotation: Any) -> Any:
    """The argparse `type` for an annotation such as `int`, `float | None`, `tuple[int, ...]`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _scalar_type(args[0])
    if typing.get_origin(annotation) in (tuple, list):
        return _scalar_type(typing.get_args(annotation)[0])
    return annotation


def add_config_args(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--field-name`` flag per dataclass field, with its docstring as help."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        help_text = f"{docs.get(f.name, '')} (default: {default})"
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif typing.get_origin(hint) in (tuple, list):
            parser.add_argument(flag, nargs="+", type=_scalar_type(hint), default=None,
                                help=help_text)
        else:
            parser.add_argument(flag, type=_scalar_type(hint), default=None, help=help_text)


def config_from_args(cls: type[C], args: argparse.Namespace, **overrides: Any) -> C:
    """Build a config from parsed flags; flags left unset keep the dataclass default."""
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = tuple(value) if typing.get_origin(hints[f.name]) is tuple else value
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)


def to_jsonable(obj: Any) -> Any:
    """Configs and results to plain JSON types (dataclasses, tuples, paths, numpy scalars)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def config_hash(obj: Any) -> str:
    """A short stable hash of a config, used to key cached artifacts."""
    import hashlib

    blob = json.dumps(to_jsonable(obj), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
