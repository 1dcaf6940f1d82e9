"""``docs/CONFIG.md`` generated from the schema (:mod:`transforms.config.config_schema`): one table per
section, one row per key (type, default, description). ``home-recs config docs`` prints it;
``tests/test_config_docs.py`` checks the committed file equals it."""
from __future__ import annotations

import json
import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from transforms.config import config_schema as cs

HEADER = """# Configuration

Generated from `transforms/config/config_schema.py` by `home-recs config docs > docs/CONFIG.md`: do not edit by hand
(`tests/test_config_docs.py` fails when the two differ). A `--config FILE` is deep-merged over these defaults;
an unknown key, a value of the wrong type or out of range is refused with exit 2 and the dotted key.
`home-recs config show [--config FILE]` prints the effective config. `<name>` is a name you choose.
"""


def render() -> str:
    """The whole ``docs/CONFIG.md`` text (str, ends with a newline)."""
    out = [HEADER]
    for name, field in cs.Config.model_fields.items():
        model = _model(field.annotation)
        intro = _summary(model) if model is not None else field.description
        out.append(f"## `{name}`\n\n{intro[0].upper()}{intro[1:]}.\n")
        if name == "shelves":
            out.append(_shelves())
        elif model is not None:
            out.append(_table(list(_rows(model, name))))
        else:
            out.append(_table([(name, _type(field.annotation), _default(field), "")]))
    return "\n".join(out)


def _summary(model: type[BaseModel]) -> str:
    """The first line of a section's docstring without its ``key:`` prefix."""
    line = model.__doc__.strip().splitlines()[0].split("``: ", 1)[-1].split(":`` ", 1)[-1]
    return line.rstrip(".").replace("``", "`")


def _rows(model: type[BaseModel], prefix: str):
    for key, field in model.model_fields.items():
        dotted, sub = f"{prefix}.{key}", _model(field.annotation)
        if sub is not None and not typing.get_origin(field.annotation):
            yield from _rows(sub, dotted)
        elif typing.get_origin(field.annotation) is dict and _model(typing.get_args(field.annotation)[1]):
            yield dotted, "dict[str, mapping]", _default(field), field.description
            yield f"{dotted}.<shelf>.<key>", "as the key of the section", "", "any key of this section but shelves"
        else:
            yield dotted, _type(field.annotation, field.metadata), _default(field), field.description


def _shelves() -> str:
    names = ", ".join(f"`{s}` ({d['kind']})" for s, d in cs.DEFAULT_SHELVES.items())
    parts = [f"Default shelves: {names}; `home-recs config show --section shelves` prints them. A user file may add "
             f"a shelf, change any key of one, or disable one with `<name>: null`. The keys depend on `kind`:\n"]
    for kind, model in cs.SHELF_MODELS.items():
        text = _summary(model)
        parts.append(f"### `kind: {kind}`\n\n{text[0].upper()}{text[1:]}.\n")
        parts.append(_table(list(_rows(model, "shelves.<name>"))))
    return "\n".join(parts)


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, type_, default, desc in rows:
        cells = [f"`{key}`", type_, f"`{default}`" if default != "" else "", desc]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _default(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return json.dumps(value) if not isinstance(value, str) or not value else value


def _model(tp) -> type[BaseModel] | None:
    tp = _strip(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _strip(tp):
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return _strip(args[0])
    return tp


def _type(tp, metadata: list | None = None) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        text = " | ".join(str(a) for a in args)
    elif origin in (typing.Union, types.UnionType):
        text = " | ".join(_type(a) for a in args)
    elif origin in (list, dict):
        text = f"{origin.__name__}[{', '.join(_type(a) for a in args)}]"
    elif tp is type(None):
        text = "null"
    elif tp is Any:
        text = "any"
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        text = "mapping"
    else:
        text = getattr(tp, "__name__", str(tp))
    bounds = {annotated_types.Gt: ">", annotated_types.Ge: ">=", annotated_types.Lt: "<", annotated_types.Le: "<="}
    for m in metadata or []:
        for cls, op in bounds.items():
            if isinstance(m, cls):
                text += f", {op} {getattr(m, cls.__name__.lower())}"
    return text
