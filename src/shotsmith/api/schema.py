"""OpenAPI helpers for endpoints that read their body by hand (JSON or multipart).

FastAPI documents a body only when it parses it; these endpoints parse it
themselves (to accept both encodings and to answer malformed bodies with a clear
400), so the request body is declared here from the same pydantic model.
"""

from __future__ import annotations

import copy

from pydantic import BaseModel


def inline_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with every local $ref replaced by its definition."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(copy.deepcopy(defs[ref.split("/")[-1]]))
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def multipart_schema(model: type[BaseModel], file_fields: tuple[str, ...]) -> dict:
    """The same fields as form fields; file fields become binary parts."""
    schema = inline_schema(model)
    props = {}
    for name, prop in schema.get("properties", {}).items():
        if name in file_fields:
            props[name] = {"type": "string", "format": "binary", "description": prop.get("description", "")}
        else:
            props[name] = prop
    return {**schema, "properties": props}


def request_body(model: type[BaseModel], file_fields: tuple[str, ...] = ()) -> dict:
    content = {"application/json": {"schema": inline_schema(model)}}
    if file_fields:
        content["multipart/form-data"] = {"schema": multipart_schema(model, file_fields)}
    return {"requestBody": {"required": True, "content": content}}
