"""Answer bodies: JSON that keeps decimal literals (`50.00000000`) and Tradier's default XML."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape


def to_json(value: Any) -> str:
    """Write JSON with Decimals as bare number literals."""
    parts: list[str] = []
    _json(value, parts)
    return "".join(parts)


def _json(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _json(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _json(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        out.append(format(value, "f"))
    else:
        out.append(json.dumps(value))


def to_xml(value: dict[str, Any]) -> str:
    """Write a payload the way Tradier answers without `Accept: application/json`."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>']
    for key, item in value.items():
        _xml(key, item, parts)
    return "".join(parts)


def _xml(tag: str, value: Any, out: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _xml(tag, item, out)
        return
    out.append(f"<{tag}>")
    if isinstance(value, dict):
        for key, item in value.items():
            _xml(key, item, out)
    elif isinstance(value, Decimal):
        out.append(format(value, "f"))
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif value is not None:
        out.append(escape(str(value)))
    out.append(f"</{tag}>")
