"""One line per config error: a pydantic ValidationError of :class:`transforms.config.config_schema.Config`
turned into the message a user can act on (the dotted key, what it must be, the closest valid name)."""
from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from transforms.config import config_schema

_MAPPING = ("model_type", "model_attributes_type", "dict_type")
_WANTS = {"bool_type": "true or false", "int_type": "an integer", "float_type": "a number",
          "string_type": "a string"}


def describe(err: ValidationError) -> str:
    """The first error of ``err`` (a validation of :class:`~transforms.config.config_schema.Config`) as one
    line: "`gate.tresholds`: unknown key; did you mean `thresholds`?", "`page.dedup` must be true or
    false, got str 'false'", ... (the caller prefixes the file)."""
    e = err.errors(include_url=False)[0]
    model, path = _walk(config_schema.Config, e["loc"])
    dotted, value, kind = ".".join(path), e.get("input"), e["type"]
    got = f"got {type(value).__name__} {value!r}"
    if kind == "extra_forbidden":
        valid = [str(k) for k in model.model_fields] if model is not None else []
        kinds = {m: k for k, m in config_schema.SHELF_MODELS.items()}
        has_it = [k for k, m in config_schema.SHELF_MODELS.items() if path[-1] in m.model_fields]
        if model in kinds and has_it:   # e.g. `kind: rule` set on a model shelf that keeps its sources
            article = "an" if kinds[model][0] in "aeiou" else "a"
            return (f"`{dotted}`: not a key of {article} {kinds[model]} shelf (only of kind: {', '.join(has_it)}); "
                    f"valid keys: {', '.join(sorted(valid))}")
        close = difflib.get_close_matches(path[-1], valid, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"valid keys: {', '.join(sorted(valid))}"
        return f"`{dotted}`: unknown key; {hint}"
    if kind in _MAPPING and dotted == "experiments":   # user-named all the way down (check_experiments)
        return f"`experiments` must be a mapping of names to experiments, {got}"
    if kind in _MAPPING:
        return f"`{dotted}` must be a mapping of keys to values, {got}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        kind_value = value.get("kind") if isinstance(value, dict) else None
        return f"`{dotted}.kind` must be one of {config_schema.SHELF_KINDS}, got {kind_value!r}"
    if kind == "list_type":
        return f"`{dotted}` must be a list, e.g. [{value}], {got}"
    if kind == "missing":
        return f"`{dotted}` is required (docs/CONFIG.md)"
    if kind in _WANTS:
        return f"`{dotted}` must be {_WANTS[kind]}, {got}"
    # constraints (greater_than, literal_error, ...): pydantic's own words, "Input should be ..."
    return f"`{dotted}` {e['msg'].replace('Input should be', 'must be')}, {got}"


def _walk(model: Any, loc: tuple) -> tuple[type[BaseModel] | None, list[str]]:
    """Follow ``loc`` (pydantic's error location) through the schema's types. Returns the model the
    last key belongs to and the dotted path the user wrote (without the union tags pydantic adds)."""
    tp, path, owner = model, [], None
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            owner = tp
            field = tp.model_fields.get(str(part))
            tp = field.annotation if field is not None else None
            path.append(str(part))
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
            path.append(str(part))
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
            path.append(str(part))
        elif _members(tp):   # a tagged union: the loc names the tag (a shelf's kind)
            tp = config_schema.SHELF_MODELS.get(str(part))
        else:
            path.append(str(part))
    return owner, path


def _members(tp) -> tuple:
    return typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()


def _unwrap(tp):
    """Strip Annotated and Optional: ``Optional[Annotated[Union[A, B], ...]]`` -> ``Union[A, B]``."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        members = [m for m in _members(tp) if m is not type(None)]
        if _members(tp) and len(members) == 1:
            tp = members[0]
            continue
        return tp
