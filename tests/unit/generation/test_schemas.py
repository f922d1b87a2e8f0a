"""The schemas stay within what OpenAI's strict structured output accepts."""

from __future__ import annotations

import pydantic
import pytest

from generation.schemas import Option, Question, Review


def _objects(schema: dict) -> list[dict]:
    """Return every object definition in a JSON schema, the root included."""
    return [schema, *schema.get("$defs", {}).values()]


@pytest.mark.parametrize("model", [Question, Review, Option])
def test_every_field_is_required_and_has_no_default(model: type[pydantic.BaseModel]):
    for definition in _objects(model.model_json_schema()):
        properties = definition["properties"]
        assert sorted(definition["required"]) == sorted(properties)
        assert not any("default" in field for field in properties.values())


@pytest.mark.parametrize("model", [Question, Review, Option])
def test_extra_properties_are_forbidden(model: type[pydantic.BaseModel]):
    for definition in _objects(model.model_json_schema()):
        assert definition["additionalProperties"] is False


@pytest.mark.parametrize("score", [0, 6])
def test_review_score_must_be_between_1_and_5(score: int):
    with pytest.raises(pydantic.ValidationError):
        Review(score=score, verdict="accept", issues=[], flaws=[])
