"""The OpenAPI description, kept by hand next to the routes.

Written out rather than generated: there is no YAML parser in the dependencies, and
a dict is easy to review. ``tests/web/test_openapi.py`` fails when a route is
missing here or a path here has no route, so it stays true.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from assemblyd.request.model import AssemblyRequest
from assemblyd.states import JobState, Stage


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = _ref("Error")
_JOB_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "example": "asm-0123456789abcdef01234567",
}
_NULL_STR = {"type": ["string", "null"]}
_CANCELED = {
    "type": "object",
    "required": ["outcome", "job"],
    "properties": {"outcome": {"type": "string"}, "job": {"$ref": "#/components/schemas/Job"}},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "Stable; branch on this."},
            "message": {"type": "string", "description": "For people; wording may change."},
            "problems": {"type": "array", "items": _ref("Problem")},
        },
    },
    "Problem": {
        "type": "object",
        "required": ["code", "reason"],
        "properties": {
            "code": {"type": "string"},
            "reason": {"type": "string"},
            "shot_index": {"type": "integer", "description": "0-based"},
            "path": {"type": "string"},
            "field": {"type": "string"},
        },
    },
    "Job": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string", "enum": [s.value for s in JobState]},
            "stage": {"type": "string", "enum": [s.value for s in Stage]},
            "progress": {"type": "number", "minimum": 0, "maximum": 100},
            "project": _NULL_STR,
            "request": _NULL_STR,
            "export": {**_NULL_STR, "description": "relative to the project, once finished"},
            "exports": {
                "type": "array",
                "items": {"type": "string"},
                "description": "every output's export (the first is export), once finished",
            },
            "error": {"oneOf": [_ERR, {"type": "null"}]},
            "queued_at": _NULL_STR,
            "started_at": _NULL_STR,
            "finished_at": _NULL_STR,
            "worker": _NULL_STR,
            "warnings": {"type": "array", "items": _ref("Notice")},
        },
    },
    "Notice": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "shot_index": {"type": "integer", "description": "0-based; -1 is the slate"},
        },
    },
}


def _submission() -> dict[str, Any]:
    """The request document's own schema (from the models), plus project and root."""
    schema = AssemblyRequest.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}"
    )
    SCHEMAS.update(schema.pop("$defs", {}))
    schema["description"] = "An assembly.json document plus the project to put it in."
    schema["required"] = ["project", *schema.get("required", [])]
    schema["properties"] = {
        "project": {
            "type": "string",
            "minLength": 1,
            "pattern": "^[^\\x00-\\x1f\\x7f]+$",
            "description": "Folder relative to a watch root.",
        },
        "root": {
            "type": "integer",
            "minimum": 0,
            "description": "Index of the watch root (default: the first that has the folder).",
        },
        **schema["properties"],
    }
    return schema


SCHEMAS["Submission"] = _submission()

_NULL_NUM = {"type": ["number", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
_NULL_URL = {"type": ["string", "null"], "description": "null when there is no such file"}
_LOUDNESS = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"integrated": _NULL_NUM, "range": _NULL_NUM, "true_peak": _NULL_NUM},
        },
        {"type": "null"},
    ]
}
SCHEMAS["Shot"] = {
    "type": "object",
    "description": "A piece of the cut, in order: a clip, a gap or the slate.",
    "required": ["index", "kind", "path", "made", "thumbnail_url"],
    "properties": {
        "index": {"type": "integer"},
        "kind": {"type": ["string", "null"], "enum": ["clip", "gap", "slate", None]},
        "path": _NULL_STR,
        "frames": _NULL_INT,
        "record_in": {**_NULL_INT, "description": "first frame in the export"},
        "duration": {**_NULL_NUM, "description": "seconds in the export"},
        "in": _NULL_NUM,
        "out": _NULL_NUM,
        "speed": _NULL_NUM,
        "dissolve_frames": _NULL_INT,
        "made": {
            "type": ["string", "null"],
            "enum": ["copied", "encoded", "cached", None],
            "description": "how the render made it; null until rendered",
        },
        "source": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"resolution": _NULL_STR, "fps": _NULL_STR, "codec": _NULL_STR},
                },
                {"type": "null"},
            ]
        },
        "thumbnail": {**_NULL_STR, "description": "relative to the project"},
        "thumbnail_url": _NULL_URL,
    },
}
SCHEMAS["Output"] = {
    "type": "object",
    "description": "One output of the request (a master, a review copy...) as delivered.",
    "required": ["index", "name", "file", "available", "url", "download_url"],
    "properties": {
        "index": {"type": "integer"},
        "name": _NULL_STR,
        "file": {**_NULL_STR, "description": "relative to the project"},
        "available": {"type": "boolean", "description": "the file is in exports/ now"},
        "format": _NULL_STR,
        "quality_preset": _NULL_STR,
        "strategy": _NULL_STR,
        "size_bytes": _NULL_INT,
        "resolution": _NULL_STR,
        "fps": _NULL_STR,
        "video_codec": _NULL_STR,
        "audio_codec": _NULL_STR,
        "duration": _NULL_NUM,
        "frames": _NULL_INT,
        "timecode": {**_NULL_STR, "description": "of the first frame"},
        "loudness": {**_LOUDNESS, "description": "measured, when a target was set"},
        "loudness_target": _LOUDNESS,
        "burnins": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "text": _NULL_STR,
                    "position": _NULL_STR,
                },
            },
        },
        "segments": {"type": "object", "additionalProperties": {"type": "integer"}},
        "poster": _NULL_STR,
        "sheet": _NULL_STR,
        "timeline": _NULL_STR,
        "url": _NULL_URL,
        "download_url": _NULL_URL,
        "poster_url": _NULL_URL,
        "sheet_url": _NULL_URL,
        "timeline_url": _NULL_URL,
    },
}
SCHEMAS["JobDetails"] = {
    "type": "object",
    "description": "A job with its entry in its project's project.json.",
    "required": ["job", "recorded", "shots", "outputs", "warnings"],
    "properties": {
        "job": _ref("Job"),
        "project_path": {**_NULL_STR, "description": "below its watch root"},
        "recorded": {"type": "boolean", "description": "project.json has an entry for it"},
        "record_problem": {**_NULL_STR, "description": "why the entry could not be read"},
        "status": _NULL_STR,
        "strategy": _NULL_STR,
        "duration": _NULL_NUM,
        "timings": {"type": "object", "additionalProperties": {"type": "number"}},
        "warnings": {"type": "array", "items": _ref("Notice")},
        "shots": {"type": "array", "items": _ref("Shot")},
        "outputs": {"type": "array", "items": _ref("Output")},
        "poster_url": _NULL_URL,
    },
}


def _op(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    """An operation, with the answers every operation may give: 401 without the API
    token (when the server has one), 403 for a foreign Host or Origin, 413 for a
    body over max_request_bytes, 503 while Redis is unreachable."""
    common = {
        "401": _json(_ERR, "unauthorized: this server needs its API token"),
        "403": _json(_ERR, "forbidden_host (no token: loopback only), forbidden_origin"),
        "413": _json(_ERR, "request_too_large"),
        "503": _json(_ERR, "redis_unavailable"),
    }
    if more.get("security") == []:  # needs no token
        del common["401"]
    return {"summary": summary, "responses": {**common, **responses}, **more}


_HTML = {"text/html": {"schema": {"type": "string"}}}
_N = {
    "name": "n",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
    "description": "0-based: the output's (or shot's) position",
}
_VIDEO = {
    "video/mp4": {"schema": {"type": "string", "format": "binary"}},
    "video/quicktime": {"schema": {"type": "string", "format": "binary"}},
}
_PICTURE = {
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
}


def _file(summary: str, content: dict[str, Any], missing: str, export: bool = False) -> Any:
    """A file of a job, by its output's (or shot's) index ``n``; an ``export`` only
    once the job finished, and as an attachment with ?download=1."""
    answers = {
        "200": {"description": "the file", "content": content},
        "206": {"description": "a byte range of it"},
        "404": _json(_ERR, f"job_not_found, {missing}; not_found for an index that is no number"),
    }
    parameters = [_JOB_ID, _N]
    if export:
        answers["409"] = _json(_ERR, "export_not_ready")
        parameters.append({"name": "download", "in": "query", "schema": {"type": "string"}})
    return {"get": _op(summary, answers, parameters=parameters)}


_FILES: dict[str, Any] = {
    "/api/v1/assembly/jobs/{id}/exports/{n}": _file(
        "Output n's export, once the job finished (inline; ?download=1 as an attachment).",
        _VIDEO,
        "export_missing",
        export=True,
    ),
    "/api/v1/assembly/jobs/{id}/exports/{n}/poster": _file(
        "Output n's poster frame (JPEG).", _PICTURE, "file_missing"
    ),
    "/api/v1/assembly/jobs/{id}/exports/{n}/sheet": _file(
        "Output n's contact sheet: a labelled thumbnail per shot (JPEG).", _PICTURE, "file_missing"
    ),
    "/api/v1/assembly/jobs/{id}/exports/{n}/timeline": _file(
        "Output n's cut as OpenTimelineIO (timeline requests), as an attachment.",
        {"application/json": {"schema": {"type": "object"}}},
        "file_missing",
    ),
    "/api/v1/assembly/jobs/{id}/shots/{n}/thumbnail": _file(
        "Shot n's thumbnail (JPEG), taken from the first output.", _PICTURE, "file_missing"
    ),
}

PATHS: dict[str, Any] = {
    "/": {
        "get": _op(
            "The dashboard (HTML). With ?token=, sets the token cookie and redirects to /.",
            {
                "200": {"description": "the dashboard", "content": _HTML},
                "303": {"description": "the token traded for a cookie"},
                "401": {
                    "description": "unauthorized: a login page for browsers, else JSON",
                    "content": {**_HTML, "application/json": {"schema": _ERR}},
                },
            },
        )
    },
    "/healthz": {
        "get": _op(
            "Redis reachable, watcher alive, worker count. Needs no token.",
            {
                "200": _json({"type": "object"}, "Redis reachable"),
                "503": _json({"type": "object"}, "Redis unreachable"),
            },
            security=[],
        )
    },
    "/openapi.json": {"get": _op("This document.", {"200": _json({"type": "object"}, "ok")})},
    "/metrics": {
        "get": _op(
            "Prometheus metrics (text format; OpenMetrics if the Accept header asks for it): "
            "jobs by state, queue depth, render seconds by strategy, segments, workers, "
            "watchers.",
            {
                "200": {
                    "description": "the metrics",
                    "content": {
                        "text/plain": {"schema": {"type": "string"}},
                        "application/openmetrics-text": {"schema": {"type": "string"}},
                    },
                }
            },
        )
    },
    "/api/v1/assembly/process": {
        "post": _op(
            "Start a job: write the request into the project and queue it.",
            {
                "202": _json(_ref("Job"), "queued"),
                "200": _json(_ref("Job"), "the same request again: its existing job"),
                "409": _json(_ERR, "request_busy, already_processed"),
                "422": _json(_ERR, "invalid_request, with every problem"),
            },
            requestBody={
                "required": True,
                "content": {"application/json": {"schema": _ref("Submission")}},
            },
        )
    },
    "/api/v1/assembly/jobs": {
        "get": _op(
            "A page of jobs, newest first. Without a cursor, the first page; pass a "
            "page's 'next' as cursor for the one after (null: there is none). A page "
            "with a filter reads at most 5 pages' worth of jobs, so it may hold fewer "
            "than limit; follow 'next' for the rest.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "jobs": {"type": "array", "items": _ref("Job")},
                            "count": {"type": "integer", "description": "jobs on this page"},
                            "next": {**_NULL_STR, "description": "cursor of the next page"},
                        },
                    },
                    "ok",
                ),
                "422": _json(_ERR, "invalid_request: not a job state, cursor or limit"),
            },
            parameters=[
                {
                    "name": "state",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["", *(s.value for s in JobState)]},
                    "description": "only jobs in this state (empty: all)",
                },
                {
                    "name": "project",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "only jobs whose project path contains this",
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "an earlier page's 'next' (empty: the first page)",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    "description": "jobs per page (default 100)",
                },
            ],
        )
    },
    "/api/v1/assembly/jobs/{id}": {
        "get": _op(
            "One job.",
            {"200": _json(_ref("Job"), "ok"), "404": _json(_ERR, "job_not_found")},
            parameters=[_JOB_ID],
        ),
        "delete": _op(
            "Cancel a queued or running job.",
            {
                "200": _json(_CANCELED, "canceled (it had not started)"),
                "202": _json(_CANCELED, "stopping (it was running)"),
                "404": _json(_ERR, "job_not_found"),
                "409": _json(_ERR, "job_already_ended"),
            },
            parameters=[_JOB_ID],
        ),
    },
    "/api/v1/assembly/jobs/{id}/progress": {
        "get": _op(
            "Server-Sent Events: {state, stage, progress, export, error} per change; "
            "an 'end' event and the stream closes at a terminal state.",
            {
                "200": {
                    "description": "event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "404": _json(_ERR, "job_not_found"),
            },
            parameters=[_JOB_ID],
        )
    },
    "/api/v1/assembly/exports/{id}": {
        "get": _op(
            "The finished job's export (inline; ?download=1 as an attachment).",
            {
                "200": {
                    "description": "the video file",
                    "content": {
                        "video/mp4": {"schema": {"type": "string", "format": "binary"}},
                        "video/quicktime": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "206": {"description": "a byte range of it"},
                "404": _json(_ERR, "job_not_found, export_missing"),
                "409": _json(_ERR, "export_not_ready"),
            },
            parameters=[
                _JOB_ID,
                {"name": "download", "in": "query", "schema": {"type": "string"}},
            ],
        )
    },
    "/jobs/{id}": {
        "get": _op(
            "A job's own page (HTML): its shots, outputs and downloads; the page asks "
            "the API for the job, so any id gets the page.",
            {
                "200": {"description": "the page", "content": _HTML},
                "303": {"description": "?token= traded for a cookie"},
                "401": {
                    "description": "unauthorized: a login page for browsers, else JSON",
                    "content": {**_HTML, "application/json": {"schema": _ERR}},
                },
            },
            parameters=[_JOB_ID],
        )
    },
    "/api/v1/assembly/jobs/{id}/details": {
        "get": _op(
            "The job with its shots (thumbnails, durations, how each was made), warnings "
            "and outputs (each with its file, size, format and download URL), from its "
            "entry in project.json. A job without a readable entry still answers, with "
            "recorded false.",
            {"200": _json(_ref("JobDetails"), "ok"), "404": _json(_ERR, "job_not_found")},
            parameters=[_JOB_ID],
        )
    },
    "/api/v1/assembly/jobs/{id}/poster": {
        "get": _op(
            "The job's poster (its first output's), for the job list.",
            {
                "200": {"description": "the picture", "content": _PICTURE},
                "206": {"description": "a byte range of it"},
                "404": _json(_ERR, "job_not_found, file_missing"),
            },
            parameters=[_JOB_ID],
        )
    },
    **_FILES,
    "/api/v1/assembly/states": {
        "get": _op(
            "The job states (and which are terminal) and the stages, in order.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "states": {"type": "array", "items": {"type": "string"}},
                            "terminal": {"type": "array", "items": {"type": "string"}},
                            "stages": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "ok",
                )
            },
        )
    },
    "/api/v1/assembly/projects": {
        "get": _op(
            "Folders below the watch roots, for the submit form.",
            {"200": _json({"type": "object"}, "{roots: [...], projects: [{root, path}]}")},
        )
    },
    "/api/v1/assembly/ws": {
        "get": _op(
            "WebSocket: a snapshot of every job (or ?job=ID), then updates.",
            {
                "101": {"description": "switching to WebSocket"},
                "404": _json(_ERR, "job_not_found"),
                "426": _json(_ERR, "upgrade_required: a plain HTTP request"),
            },
            description="Messages: {type: snapshot, jobs: [Job] (the first page), next: "
            "cursor|null}, {type: update, jobs: [Job]}, {type: status, redis: bool}.",
            parameters=[{"name": "job", "in": "query", "schema": {"type": "string"}}],
        )
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "assemblyd",
        "version": "1",
        "description": "Assembly jobs: submit, watch, cancel, download. Errors are "
        "{code, message} JSON with stable codes.",
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "token": {
                "type": "http",
                "scheme": "bearer",
                "description": "api_token; browsers may use ?token= or the assemblyd_token cookie",
            }
        },
    },
    "security": [{"token": []}],
}


async def openapi(request: Request) -> Response:
    return JSONResponse(SPEC)
