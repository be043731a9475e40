"""The Claim Attachments reference's rules, checked the way Availity answers them.

Written apart from the production client's pydantic model on purpose: the sandbox is a second
reading of the reference, so a client that drifts from it is caught. Answers follow the reference's
``parameterViolations`` shape with paths under ``sendResponseExt.arg0``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parameter_violations"]

_PREFIX = "sendResponseExt.arg0"

_REQUIRED: dict[str, tuple[str, ...]] = {
    "submitter": ("id", "state"),
    "subscriber": ("firstName", "lastName", "accountNumber", "memberNumber"),
    "patient": ("firstName", "lastName", "accountNumber", "memberNumber"),
    "provider": ("lastName",),
    "payer": ("id",),
    "encounter": ("serviceFrom", "requestNumber"),
    "product": ("category", "type"),
}
_EXACT = {("product", "category"): "MEDICAL", ("product", "type"): "CLAIM"}


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).title().replace("Id", "ID")


def _violation(path: str, message: str, value: Any) -> dict[str, Any]:
    return {
        "constraintType": "PARAMETER",
        "path": f"{_PREFIX}.{path}",
        "message": message,
        "value": "" if value is None else str(value),
    }


def _loinc_ok(code: str) -> bool:
    match = re.fullmatch(r"(\d{1,7})-(\d)", code)
    if match is None:
        return False
    digits = [int(d) for d in match.group(1)]
    # LOINC Mod 10: double the digits in odd positions from the right, sum all digits.
    total = 0
    for position, digit in enumerate(reversed(digits), start=1):
        if position % 2:
            total += sum(divmod(digit * 2, 10))
        else:
            total += digit
    return (10 - total % 10) % 10 == int(match.group(2))


def _reason_codes(path: str, codes: Any, seen: set[str]) -> list[dict[str, Any]]:
    if codes is None:
        return []
    if not isinstance(codes, list):
        return [_violation(path, "Reason Codes must be an array.", codes)]
    found = []
    for i, code in enumerate(codes):
        here = f"{path}[{i}]"
        code = code if isinstance(code, dict) else {}
        if code.get("codeType") != "LOINC":
            found.append(
                _violation(f"{here}.codeType", "Code Type must be LOINC.", code.get("codeType"))
            )
        value = code.get("value")
        if not isinstance(value, str) or not _loinc_ok(value):
            found.append(_violation(f"{here}.value", "Reason Code must be a LOINC code.", value))
        elif value in seen:
            found.append(_violation(f"{here}.value", "Reason Code must be unique.", value))
        else:
            seen.add(value)
    return found


def _payloads(payloads: Any) -> list[dict[str, Any]]:
    if payloads is None:
        return []
    if not isinstance(payloads, list):
        return [_violation("payloads", "Payloads must be an array.", payloads)]
    found: list[dict[str, Any]] = []
    for i, payload in enumerate(payloads):
        here = f"payloads[{i}]"
        payload = payload if isinstance(payload, dict) else {}
        seen: set[str] = set()
        found += _reason_codes(f"{here}.reasonCodes", payload.get("reasonCodes"), seen)
        contents = payload.get("contents") or []
        for j, content in enumerate(contents if isinstance(contents, list) else []):
            at = f"{here}.contents[{j}]"
            content = content if isinstance(content, dict) else {}
            if not isinstance(content.get("contentType"), dict):
                found.append(_violation(f"{at}.contentType", "Content Type is required.", None))
            filename = content.get("filename")
            if not isinstance(filename, str) or not 1 <= len(filename) <= 255:
                found.append(
                    _violation(f"{at}.filename", "size must be between 1 and 255", filename)
                )
            found += _reason_codes(f"{at}.reasonCodes", content.get("reasonCodes"), seen)
    return found


def parameter_violations(body: Any) -> list[dict[str, Any]]:
    """Every rule ``body`` breaks, empty when Availity would accept it."""
    if not isinstance(body, dict):
        return [_violation("", "Request body is required.", None)]
    found: list[dict[str, Any]] = []
    for obj, fields in _REQUIRED.items():
        part = body.get(obj)
        if not isinstance(part, dict):
            found.append(_violation(obj, f"{_words(obj)} is required.", None))
            continue
        for name in fields:
            value = part.get(name)
            if not isinstance(value, str) or not value.strip():
                found.append(
                    _violation(f"{obj}.{name}", f"{_words(obj)} {_words(name)} is required.", value)
                )
            elif (obj, name) in _EXACT and value != _EXACT[obj, name]:
                expected = _EXACT[obj, name]
                found.append(_violation(f"{obj}.{name}", f"Only {expected} is accepted.", value))
    payer_id = (body.get("payer") or {}).get("id") if isinstance(body.get("payer"), dict) else None
    if isinstance(payer_id, str) and len(payer_id) > 35:
        found.append(_violation("payer.id", "Payer ID must be at most 35 characters.", payer_id))
    found += _payloads(body.get("payloads"))
    return found
