"""``cellplateau spec-schema``: the study spec's JSON schema and a readable list of every field.

Both are read off the pydantic models after the registries are complete (installed entry points and any
plug-in modules imported, the spec's unions rebuilt), so plug-in families, strategies and tasks are listed
exactly like the built-ins.
"""

from __future__ import annotations

import enum
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


@dataclass(frozen=True)
class FieldDoc:
    path: str            # e.g. selection.strategies[name=random].seed, families[name=mae].hidden
    type: str
    default: str         # "required" when the field has none
    description: str


def _strip(tp):
    """Drop ``Annotated`` wrappers."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def type_name(tp) -> str:
    """A short readable name of an annotation (``list[float]``, ``'cpu' | 'cuda'``, ``MAEConfig | ...``)."""
    tp = _strip(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_name(a) for a in args)}]" if args else name
    return getattr(tp, "__name__", str(tp))


def _models_in(tp) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (through list/dict/Optional/Union/Annotated)."""
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out: list[type[BaseModel]] = []
    for a in typing.get_args(tp):
        if a is not type(None) and not isinstance(a, str | int | float | bool):
            out += _models_in(a)
    return out


def _default(field) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "(computed)"
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section below)"
    if isinstance(value, enum.Enum):
        value = value.value
    return repr(str(value)) if isinstance(value, os.PathLike) else repr(value)


def _tag(model: type[BaseModel]) -> str | None:
    """``name=<tag>`` of a union member (the ``name`` literal that selects it)."""
    f = model.model_fields.get("name")
    if f is not None and typing.get_origin(f.annotation) is typing.Literal:
        return f"name={typing.get_args(f.annotation)[0]}"
    return None


def field_docs(model: type[BaseModel], prefix: str = "") -> Iterator[FieldDoc]:
    """Every field of ``model`` and of the models its fields hold, depth first, with dotted paths."""
    tagged = _tag(model) is not None
    for name, field in model.model_fields.items():
        if tagged and name == "name":          # the union tag, already in the path
            continue
        path = f"{prefix}{name}"
        yield FieldDoc(path, type_name(field.annotation), _default(field), (field.description or "").strip())
        origin = typing.get_origin(_strip(field.annotation))
        members = _models_in(field.annotation)
        many = origin in (list, tuple) or len(members) > 1
        for sub in members:
            tag = _tag(sub) if len(members) > 1 else None
            if origin is dict:
                sub_prefix = f"{path}.<key>."
            else:
                sub_prefix = f"{path}[{tag}]." if tag else (f"{path}[]." if many else f"{path}.")
            yield from field_docs(sub, sub_prefix)


def prepared_spec_model(plugins: list[str] | None = None):
    """``StudySpec`` with the unions rebuilt after the entry points and ``plugins`` registered themselves."""
    from cellplateau import spec

    spec.load_spec_plugins({"plugins": list(plugins or [])}, source="--plugin")
    return spec.StudySpec


def json_schema(plugins: list[str] | None = None) -> dict:
    return prepared_spec_model(plugins).model_json_schema()


def text(plugins: list[str] | None = None) -> str:
    """The readable list: one block per field (path, type, default, description)."""
    model = prepared_spec_model(plugins)
    lines = [f"{model.__name__}: {(model.__doc__ or '').strip()}", ""]
    for d in field_docs(model):
        lines.append(f"{d.path}: {d.type} = {d.default}")
        if d.description:
            lines.append(f"    {d.description}")
    return "\n".join(lines) + "\n"
