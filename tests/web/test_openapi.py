"""The OpenAPI document describes exactly the routes the app has."""

from __future__ import annotations

import re

from starlette.routing import Mount, Route, WebSocketRoute

from assemblyd.web.app import routes


def _routes() -> set[tuple[str, str]]:
    found = set()
    for route in routes():
        # OpenAPI paths name parameters without Starlette's convertors: {n:int} is {n}.
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        if isinstance(route, Mount):  # static files: not an API
            continue
        if isinstance(route, WebSocketRoute):
            found.add((path, "get"))  # the handshake is a GET
        elif isinstance(route, Route):
            found |= {(path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return found


def test_every_route_is_described_and_every_description_is_a_route(app):
    spec = app.http.get("/openapi.json").json()
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert described == _routes()
    assert spec["openapi"].startswith("3.1")


def test_every_reference_resolves(app):
    spec = app.http.get("/openapi.json").json()
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"], ref


def test_the_submission_schema_is_the_request_models(app):
    from assemblyd.request.model import AssemblyRequest

    schemas = app.http.get("/openapi.json").json()["components"]["schemas"]
    fields = set(AssemblyRequest.model_json_schema(by_alias=True)["properties"])
    assert set(schemas["Submission"]["properties"]) == fields | {"project", "root"}
    assert "project" in schemas["Submission"]["required"]
