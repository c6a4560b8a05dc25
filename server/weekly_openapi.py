"""The weekly loop's API routes as OpenAPI 3 paths, for the API description at /api/openapi.json
(merged into its `paths`: `SPEC["paths"].update(weekly_openapi.PATHS)`)."""

from __future__ import annotations

from typing import Any

_JSON = {"application/json": {"schema": {"type": "object"}}}
_ERR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_WHY = {"400": "the request is malformed; `message` says what to send", "401": "no token or a wrong one",
        "404": "no such unit or key result on record", "429": "too many wrong tokens; wait Retry-After seconds",
        "503": "the workspace failed, or the key result was never synced; `message` has the reason"}
_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "example": "2026-11-16"}
_CODE = {"type": "string", "pattern": r"^[\w.\-]{1,40}$"}


def _answers(*codes: str, ok: str = "200") -> dict[str, Any]:
    out: dict[str, Any] = {ok: {"description": "OK" if ok == "200" else "Created", "content": _JSON}}
    for code in ("401", "429", *codes):
        out[code] = {"description": _WHY[code], "content": _ERR}
    return out


def _op(summary: str, answers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": [{"bearer": []}], "responses": answers, **extra}


def _param(name: str, where: str, schema: dict[str, Any], about: str = "") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": about}


CHECKIN_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "example": "MKT/KR1.2", "description": "the key result's global ID"},
            "current": {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 200}]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 10},
            "comment": {"type": "string", "maxLength": 2000},
            "who": {"type": "string", "description": "the add-in's form only: the name typed there"},
        },
    }}},
}

PATHS: dict[str, Any] = {
    "/api/checkins": {
        "get": _op("Recorded check-ins, newest first (who, why, old and new figures, cycle)", _answers("400", "503"),
                   parameters=[_param("unit", "query", _CODE), _param("kr", "query", _CODE),
                               _param("cycle", "query", _CODE), _param("since", "query", _DATE),
                               _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 5000})]),
        "post": _op("Record a check-in; who is the token's name", _answers("400", "503", ok="201"),
                    requestBody=CHECKIN_BODY),
    },
    "/addin/api/checkin": {
        "post": _op("The add-in's check-in form (it writes the cells itself); who is the name it sends",
                    _answers("400", "503", ok="201"), requestBody=CHECKIN_BODY),
    },
    "/api/unit/{code}": {
        "get": _op("A unit's key results, score trend and check-ins in one cycle", _answers("404", "503"),
                   parameters=[_param("code", "path", _CODE, "unit code"),
                               _param("cycle", "query", _CODE, "default: the cycle running today")]),
    },
    "/api/kr/{code}/{kr}": {
        "get": _op("One key result: figures, trend (current, score, confidence by day) and check-ins",
                   _answers("404", "503"),
                   parameters=[_param("code", "path", _CODE, "unit code"), _param("kr", "path", _CODE, "e.g. KR1.2"),
                               _param("cycle", "query", _CODE, "default: the cycle running today")]),
    },
    "/api/changes": {"get": _op("What changed in the last seven days, and undelivered messages", _answers("503"))},
}
