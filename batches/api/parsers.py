"""Request body parsing for the API."""

from __future__ import annotations

import codecs
from typing import IO, Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from batches import text as text_module
from batches.validation import row_path

# The deepest body the API accepts: a batch definition nests three levels (body, scope,
# objectives). Deeper bodies are refused before anything walks them; 100,000 levels used to
# raise RecursionError inside the parser (a 500).
MAX_JSON_DEPTH = 32


def json_number(text: str) -> int | float:
    """Read a JSON number with a fraction or exponent, keeping integral values integers.

    JSON Schema, and so the OpenAPI schema, counts 4.0 as the integer 4.
    """
    number = float(text)
    return int(number) if number.is_integer() else number


class ApiJSONParser(JSONParser):
    """Parse JSON as the schema reads it; refuse bodies nested too deep and text that cannot
    be stored (NUL, lone surrogates, non-characters: see batches.text)."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        try:
            text = codecs.getreader("utf-8")(stream).read()
            data = json.loads(text, parse_float=json_number, parse_constant=json.strict_constant)
        except RecursionError as exc:
            raise ValidationError(
                {"non_field_errors": [f"Must not nest deeper than {MAX_JSON_DEPTH} levels."]}
            ) from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if text_module.json_depth(data) > MAX_JSON_DEPTH:
            raise ValidationError(
                {"non_field_errors": [f"Must not nest deeper than {MAX_JSON_DEPTH} levels."]}
            )
        problems: dict[str, list[str]] = {}
        for path, reason in text_module.unstorable_paths(data):
            problems.setdefault(row_path(path) or "non_field_errors", []).append(reason)
        if problems:
            raise ValidationError(dict(sorted(problems.items())))
        return data
