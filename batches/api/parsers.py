"""Request body parsing for the API."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import IO, Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

NUL = "\x00"


def json_number(text: str) -> int | float:
    """Read a JSON number with a fraction or exponent, keeping integral values integers.

    JSON Schema, and so the OpenAPI schema, counts 4.0 as the integer 4.
    """
    number = float(text)
    return int(number) if number.is_integer() else number


def nul_paths(value: Any, path: str = "") -> Iterator[str]:
    """Yield the dotted path of every key or string in `value` that contains NUL."""
    if isinstance(value, str):
        if NUL in value:
            yield path
    elif isinstance(value, dict):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                yield child_path
            yield from nul_paths(child, child_path)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from nul_paths(child, f"{path}.{index}" if path else str(index))


class ApiJSONParser(JSONParser):
    """Parse JSON as the schema reads it; refuse text with NUL, which PostgreSQL cannot store."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        try:
            text = codecs.getreader("utf-8")(stream).read()
            data = json.loads(text, parse_float=json_number, parse_constant=json.strict_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        paths = sorted(set(nul_paths(data)))
        if paths:
            message = ["Must not contain NUL characters."]
            raise ValidationError({path or "non_field_errors": message for path in paths})
        return data
