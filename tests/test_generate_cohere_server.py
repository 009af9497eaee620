"""The loopback server itself, through the real `cohere` client: it must be as strict as Cohere."""
from __future__ import annotations

import json

import cohere
import jsonschema
import pytest
from cohere.core.api_error import ApiError
from cohere_server import cohere_server_factory  # noqa: F401  (fixture)
from generate_helpers import jpeg

from vlcultura.data.generators.cohere import data_url

VISION = "command-a-vision-07-2025"
JUDGE_SCHEMA = {  # a different stage's schema: enums, integers, arrays, $defs
    "type": "object", "required": ["scores", "verdict"],
    "$defs": {"score": {"type": "integer"}},
    "properties": {"scores": {"type": "object", "required": ["accuracy"],
                              "properties": {"accuracy": {"$ref": "#/$defs/score"}}},
                   "verdict": {"type": "string", "enum": ["keep", "drop"]},
                   "issues": {"type": "array", "items": {"type": "string"}}},
}


def _json(schema):
    return {"type": "json_object", "json_schema": schema}


def test_answers_are_valid_for_any_schema_deterministic_and_streamable(cohere_server_factory):
    server = cohere_server_factory()
    client = cohere.ClientV2(api_key=server.key, base_url=server.url, max_retries=0)
    messages = [{"role": "user", "content": "Evalúa la descripción. Responde en JSON."}]
    first = client.chat(model=VISION, messages=messages, response_format=_json(JUDGE_SCHEMA))
    again = client.chat(model=VISION, messages=messages, response_format=_json(JUDGE_SCHEMA))
    text = first.message.content[0].text
    jsonschema.validate(json.loads(text), JUDGE_SCHEMA)
    assert text == again.message.content[0].text and first.usage.billed_units.output_tokens > 0
    streamed = "".join(e.delta.message.content.text for e in client.chat_stream(
        model=VISION, messages=messages, response_format=_json(JUDGE_SCHEMA)) if e.type == "content-delta")
    assert streamed == text
    embedded = client.embed(model="embed-v4.0", input_type="search_document", texts=["a", "b"],
                            embedding_types=["float"])
    assert len(embedded.embeddings.float_) == 2


@pytest.mark.parametrize("kwargs, status, words", [
    ({"response_format": _json({"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}},
                                 "required": ["a"]})}, 400, "maxLength"),
    ({"response_format": _json({"type": "object", "properties": {"a": {"type": "string"}}})}, 400, "required"),
    ({"model": "c4ai-aya-vision-8b"}, 404, "removed"),
    ({"model": "command-a-03-2025", "image": True}, 400, "does not support images"),
])
def test_requests_cohere_would_refuse_are_refused(cohere_server_factory, kwargs, status, words):
    server = cohere_server_factory()
    client = cohere.ClientV2(api_key=server.key, base_url=server.url, max_retries=0)
    content = [{"type": "text", "text": "Describe. JSON."}]
    if kwargs.pop("image", False):
        content.append({"type": "image_url", "image_url": {"url": data_url(jpeg())[0]}})
    with pytest.raises(ApiError) as err:
        client.chat(**{"model": VISION, "messages": [{"role": "user", "content": content}], **kwargs})
    assert err.value.status_code == status and words in err.value.body["message"]


def test_wrong_key_is_401_and_the_log_never_holds_a_key(cohere_server_factory):
    server = cohere_server_factory()
    client = cohere.ClientV2(api_key="wrong-key", base_url=server.url, max_retries=0)
    with pytest.raises(cohere.UnauthorizedError):
        client.chat(model=VISION, messages=[{"role": "user", "content": "hola"}])
    assert server.log[0].status == 401 and not server.log[0].auth_ok
    assert "wrong-key" not in repr(server.log) and server.key not in repr(server.log)
