"""Blueprint: the JSON API described as OpenAPI 3 at /api/openapi.json (public: it holds no data)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from . import weekly_openapi

bp = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON_OBJECT = {"type": "object"}
_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "example": "2026-11-15"}
_CELL = {"anyOf": [{"type": "string", "maxLength": 32767}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}

_WORKBOOK = {
    "type": "object",
    "required": ["sheets"],
    "properties": {
        "sheets": {
            "type": "object",
            "description": "sheet name -> its used range's values, row by row (at most 20 sheets)",
            "additionalProperties": {"type": "array", "items": {"type": "array", "items": _CELL}},
        },
        "origins": {
            "type": "object",
            "description": "sheet name -> the used range's top-left cell, e.g. B3 or Sheet1!B3:K20",
            "additionalProperties": {"type": "string"},
        },
        "sheet_names": {"type": "array", "items": {"type": "string"}},
        "source": {"type": "string", "description": "the workbook's name, for messages"},
        "as_of": _DATE,
    },
}


def _answers(*codes: str) -> dict[str, Any]:
    names = {
        "400": "the request is malformed; `message` says what to send",
        "401": "no token or a wrong one",
        "404": "no such sheet, unit, ID or cycle",
        "409": "a sync is running; try again when it finishes",
        "413": "the body is larger than the server accepts",
        "422": "the workbook could not be scored; `message` says why",
        "429": "too many wrong tokens from this address; wait Retry-After seconds",
        "503": "the workspace or the sync failed; `message` has the reason",
    }
    out: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": _JSON_OBJECT}}}}
    for code in ("401", "429", *codes):
        out[code] = {"description": names[code], "content": {"application/json": {"schema": _ERROR}}}
    return out


def _query(name: str, schema: dict[str, Any], required: bool = False, about: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": about}


# `?cycle=` on the views: that cycle's newest recorded sync (docs/cycles.md); default the newest of any.
_CYCLE = _query("cycle", {"type": "string", "pattern": r"^[\w .-]{1,24}$", "example": "2026-Q3"},
                about="a cycle, e.g. 2026-Q3 (default: the newest synced)")


def _op(summary: str, answers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": [{"bearer": []}], "responses": answers, **extra}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "okr-sync",
        "version": "1",
        "description": "Every operation needs `Authorization: Bearer <token>`; see docs/server.md and "
        "docs/security.md.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "paths": {
        "/api/sync": {
            "post": _op(
                "Run a sync and answer when it is done",
                _answers("400", "409", "413", "503"),
                requestBody=_body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "as_of": _DATE,
                            "dry_run": {"type": "boolean"},
                            "cycle": {"type": "string", "pattern": r"^[\w .-]{1,24}$", "example": "2026-Q4"},
                        },
                    },
                    required=False,
                ),
            )
        },
        "/api/status": {
            "get": _op(
                "The last run, a running one, the company score", _answers("400", "404", "503"), parameters=[_CYCLE]
            )
        },
        "/api/units": {"get": _op("Each unit's summary", _answers("400", "404", "503"), parameters=[_CYCLE])},
        "/api/rollup": {
            "get": _op(
                "The rollup sheets",
                _answers("400", "404", "503"),
                parameters=[_query("sheet", {"type": "string"}, about="one sheet, e.g. Units"), _CYCLE],
            )
        },
        "/api/history": {
            "get": _op(
                "History rows of one objective or key result",
                _answers("400", "404", "503"),
                parameters=[_query("id", {"type": "string", "example": "MKT/KR1.2"}, True, "a global ID"), _CYCLE],
            )
        },
        "/api/runs": {
            "get": _op(
                "The run log, newest first",
                _answers("400", "503"),
                parameters=[_query("limit", {"type": "integer", "minimum": 1, "maximum": 500})],
            )
        },
        "/addin/api/score": {
            "post": _op(
                "Score a workbook the add-in sends (recorded as an addin run; 409 while a sync runs)",
                _answers("400", "409", "413", "422"), requestBody=_body(_WORKBOOK)
            ),
        },
        "/addin/api/bands": {"get": _op("The grade bands, status names and colours (core/bands.py)", _answers())},
        "/addin/api/validate": {
            "post": _op(
                "Validate a workbook the add-in sends", _answers("400", "413", "422"), requestBody=_body(_WORKBOOK)
            ),
        },
        "/addin/api/rollup": {
            "get": _op(
                "The company rollup, computed now (nothing written)",
                _answers("400", "409", "422", "503"),
                parameters=[
                    _query("as_of", _DATE),
                    _query("lang", {"type": "string", "enum": ["en", "zh"]}),
                ],
            )
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This description",
                "security": [],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": _JSON_OBJECT}}}},
            }
        },
    },
}

SPEC["paths"].update(weekly_openapi.PATHS)


@bp.get("/api/openapi.json")
def openapi() -> Any:
    return jsonify(SPEC)
