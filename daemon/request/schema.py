"""The JSON Schema of the request document, generated from the models
(``assemblyd schema``; ``config/assembly.schema.json`` is its committed copy)."""

from __future__ import annotations

from typing import Any

from .model import AssemblyRequest


def json_schema() -> dict[str, Any]:
    schema = AssemblyRequest.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "assemblyd request (assembly.json)"
    return schema
