"""Small validators that read one field of a decoded JSON object.

Each raises :class:`RemoteProtocolError` naming the field (with its path, e.g.
``params.data.index``) and what was wrong, so a malformed envelope never turns
into a ``KeyError`` or ``TypeError`` deep in a reducer. The spec's camelCase
spelling of a field is accepted wherever the Python server's snake_case one is
missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._errors import RemoteProtocolError

__all__ = [
    "MISSING",
    "camel",
    "get",
    "req_str",
    "opt_str",
    "req_int",
    "opt_int",
    "opt_dict",
    "req_dict",
    "namespace",
    "opt_bool",
]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def camel(name: str) -> str:
    """``tool_call_id`` -> ``toolCallId``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def get(obj: Mapping[str, Any], name: str) -> Any:
    """The field under its snake_case name, else its camelCase name, else MISSING."""
    value = obj.get(name, MISSING)
    if value is MISSING and "_" in name:
        value = obj.get(camel(name), MISSING)
    return value


def _fail(where: str, name: str, problem: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"{where}.{name} {problem}" if where else f"{name} {problem}")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def req_str(obj: Mapping[str, Any], name: str, where: str, *, empty: bool = True) -> str:
    value = get(obj, name)
    if value is MISSING:
        raise _fail(where, name, "is required but missing")
    if type(value) is not str:
        raise _fail(where, name, f"must be a string, got {_type_name(value)}")
    if not empty and not value:
        raise _fail(where, name, "must not be empty")
    return value


def opt_str(obj: Mapping[str, Any], name: str, where: str) -> str | None:
    value = get(obj, name)
    if value is MISSING or value is None:
        return None
    if type(value) is not str:
        raise _fail(where, name, f"must be a string, got {_type_name(value)}")
    return value


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is not an int on the wire


def req_int(obj: Mapping[str, Any], name: str, where: str) -> int:
    value = get(obj, name)
    if value is MISSING:
        raise _fail(where, name, "is required but missing")
    if not _is_int(value):
        raise _fail(where, name, f"must be an integer, got {_type_name(value)}")
    return int(value)


def opt_int(obj: Mapping[str, Any], name: str, where: str) -> int | None:
    value = get(obj, name)
    if value is MISSING or value is None:
        return None
    if not _is_int(value):
        raise _fail(where, name, f"must be an integer, got {_type_name(value)}")
    return int(value)


def opt_bool(obj: Mapping[str, Any], name: str, where: str) -> bool | None:
    value = get(obj, name)
    if value is MISSING or value is None:
        return None
    if type(value) is not bool:
        raise _fail(where, name, f"must be a boolean, got {_type_name(value)}")
    return bool(value)


def opt_dict(obj: Mapping[str, Any], name: str, where: str) -> dict[str, Any] | None:
    value = get(obj, name)
    if value is MISSING or value is None:
        return None
    if type(value) is not dict:
        raise _fail(where, name, f"must be an object, got {_type_name(value)}")
    return value


def req_dict(obj: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = get(obj, name)
    if value is MISSING:
        raise _fail(where, name, "is required but missing")
    if type(value) is not dict:
        raise _fail(where, name, f"must be an object, got {_type_name(value)}")
    return value


def namespace(value: Any, where: str) -> tuple[str, ...]:
    """A namespace: a JSON array of strings, returned as a tuple."""
    if type(value) is not list and type(value) is not tuple:
        raise RemoteProtocolError(f"{where} must be an array of strings, got {_type_name(value)}")
    for segment in value:
        if type(segment) is not str:
            raise RemoteProtocolError(
                f"{where} must be an array of strings, found {_type_name(segment)}"
            )
    return tuple(value)
