"""What crosses back from a worker: plain data, checked on the way in.

The worker encodes values as JSON with a few tags ($bytes, $datetime, $list, $tuple, $dict,
$object); here they become plain Python values again. Anything that is not plain data (a
student's object, whatever its ``__eq__`` claims) arrives as a :class:`StudentObject`, which
equals nothing but itself. A malformed answer raises :class:`Garbage`.
"""

from __future__ import annotations

import base64
import re
import binascii
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 40


_PYTHON_LOCATION = re.compile(r"\s*\((?:[^()]*, )?line \d+\)\s*$")


class Garbage(ValueError):
    """The worker's answer is not what the protocol allows."""


@dataclass(frozen=True)
class StudentObject:
    """A value that was not plain data in the student's process (only its type and repr)."""

    type_name: str
    text: str = ""

    def __repr__(self) -> str:
        return f"<{self.type_name}{(' ' + self.text) if self.text else ''}>"


@dataclass(frozen=True)
class StudentError:
    """An exception raised by the student's code, as the worker described it."""

    type_name: str
    bases: tuple[str, ...]  # the class and its bases, by name
    message: str
    attributes: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    line: int | None = None

    def is_a(self, name: str) -> bool:
        return name in self.bases

    @property
    def is_exception(self) -> bool:
        """An Exception (not SystemExit, KeyboardInterrupt or GeneratorExit)."""
        return "Exception" in self.bases

    def attribute(self, name: str, default: Any = None) -> Any:
        return self.attributes.get(name, default)

    def where(self, lang: str) -> str:
        if self.line is None:
            return ""
        word = "line" if lang == "en" else "ligne"
        return f" ({self.file}, {word} {self.line})" if self.file else f" ({word} {self.line})"

    def __str__(self) -> str:
        return self.message

    def summary(self, lang: str = "fr") -> str:
        """`Type: message (file, line N)`, the location once and in `lang`: Python's own location at the
        end of a SyntaxError's message ("(x.py, line 12)") is dropped when the worker gave one."""
        message = self.message
        if self.line is not None:
            message = _PYTHON_LOCATION.sub("", message)
        return f"{self.type_name}: {message}{self.where(lang)}"


def decode(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise Garbage("too deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):  # only inside tags
        return [decode(v, depth + 1) for v in value]
    if not isinstance(value, dict) or len(value) > 2:
        raise Garbage(f"unexpected {type(value).__name__}")
    if "$list" in value:
        return [decode(v, depth + 1) for v in _list(value["$list"])]
    if "$tuple" in value:
        return tuple(decode(v, depth + 1) for v in _list(value["$tuple"]))
    if "$dict" in value:
        result = {}
        for pair in _list(value["$dict"]):
            if not isinstance(pair, list) or len(pair) != 2:
                raise Garbage("bad pair")
            key = decode(pair[0], depth + 1)
            try:
                result[key] = decode(pair[1], depth + 1)
            except TypeError:  # an unhashable key
                result[repr(key)] = decode(pair[1], depth + 1)
        return result
    if "$bytes" in value:
        try:
            return base64.b64decode(str(value["$bytes"]), validate=True)
        except (binascii.Error, ValueError) as error:
            raise Garbage("bad bytes") from error
    if "$datetime" in value:
        try:
            return dt.datetime.fromisoformat(str(value["$datetime"]))
        except ValueError as error:
            raise Garbage("bad datetime") from error
    if "$float" in value:
        return float(str(value["$float"]))
    if "$object" in value:
        return StudentObject(str(value["$object"])[:200], str(value.get("repr", ""))[:400])
    if "$truncated" in value:
        return StudentObject("…")
    raise Garbage("unknown tag")


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise Garbage("expected a list")
    return value


def decode_error(data: Any) -> StudentError:
    if not isinstance(data, dict):
        raise Garbage("bad error")
    mro = data.get("mro")
    if not isinstance(mro, list) or not all(isinstance(m, str) for m in mro):
        raise Garbage("bad mro")
    where = data.get("where") if isinstance(data.get("where"), dict) else {}
    line = where.get("line")
    attributes = data.get("attributes") if isinstance(data.get("attributes"), dict) else {}
    return StudentError(
        type_name=str(data.get("type", "?"))[:200],
        bases=tuple(m[:200] for m in mro[:50]),
        message=str(data.get("message", ""))[:4000],
        attributes={str(k)[:100]: decode(v) for k, v in list(attributes.items())[:20]},
        file=str(where["file"])[:200] if where.get("file") else None,
        line=line if isinstance(line, int) and not isinstance(line, bool) else None,
    )


def encode(value: Any) -> Any:
    """Arguments for the student's code: plain data, and references the worker resolves."""
    if isinstance(value, Ref):
        return value.payload
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot send {type(value).__name__} to the worker")


@dataclass(frozen=True)
class Ref:
    """Something that exists only in the worker: its boto3 session, a client, a Docker client."""

    payload: dict


SESSION = Ref({"$session": True})
DOCKER = Ref({"$docker": True})


def client(service: str) -> Ref:
    return Ref({"$client": service})
