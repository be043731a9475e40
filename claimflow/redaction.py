"""A structlog processor that keeps PHI and secrets out of every log line.

``redact_phi`` replaces the value of any key that names PHI or a secret — anywhere in the
event dict, however deeply nested in dicts and lists — with ``[REDACTED]``. Key names are
compared case-insensitively with ``_`` and ``-`` ignored, so Redox's ``FirstName``, our
``first_name`` and a partner's ``patientFirstName`` are one name. Free text (the event
message, exception text, any other string) has SSN-like and phone-like patterns masked, and a
string that embeds a serialized document with a PHI key (``"FirstName": ...``, as aiokafka's
DEBUG lines quote a message value) is replaced whole: a body is never logged, even quoted.

It runs last before the renderer, for structlog's own events and for stdlib records
(uvicorn, aiokafka) alike: see :func:`claimflow.logging.configure_logging`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["PHI_KEYS", "REDACTED", "REDACTED_DOCUMENT", "mask_text", "redact_phi", "redact_value"]

REDACTED = "[REDACTED]"
REDACTED_DOCUMENT = "[REDACTED: text quoting a document with PHI fields]"

# Normalised (lower case, no "_" or "-") key names whose values are never logged.
PHI_KEYS = frozenset(
    {
        # People and their demographics (Redox, Integrex, Availity spellings).
        "patient",
        "demographics",
        "subscriber",
        "firstname",
        "lastname",
        "middlename",
        "fullname",
        "givenname",
        "familyname",
        "patientname",
        "patientfirstname",
        "patientlastname",
        "subscribername",
        "subscriberfirstname",
        "subscriberlastname",
        "dob",
        "dateofbirth",
        "birthdate",
        "patientdob",
        "patientbirthdate",
        "subscriberdob",
        "subscriberbirthdate",
        "ssn",
        "socialsecuritynumber",
        # Identifiers of a person.
        "memberid",
        "membernumber",
        "subscriberid",
        "subscribernumber",
        "patientid",
        "patientaccountnumber",
        "mrn",
        "medicalrecordnumber",
        # Where they live and how to reach them.
        "address",
        "addresses",
        "streetaddress",
        "addressline1",
        "addressline2",
        "zip",
        "zipcode",
        "postalcode",
        "phone",
        "phonenumber",
        "phonenumbers",
        "home",
        "mobile",
        "office",
        "fax",
        "email",
        "emailaddress",
        "emailaddresses",
        # Whole bodies: never log them, even by accident.
        "body",
        "payload",
        # Secrets.
        "verificationtoken",
        "token",
        "accesstoken",
        "password",
        "secret",
        "clientsecret",
        "authorization",
    }
)

_SSN = re.compile(r"(?<!\d)\d{3}[- ]\d{2}[- ]\d{4}(?!\d)")
_PHONE = re.compile(
    r"\+\d{10,15}(?!\d)"  # E.164, as Redox sends phones
    r"|(?<!\d)\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}(?!\d)"  # (608) 555-1234, 608.555.1234
)


_DIGIT = re.compile(r"\d")
# A quoted key followed by a colon: JSON, a Python dict repr, or either inside a bytes repr.
_QUOTED_KEY = re.compile(r"""["']([A-Za-z][A-Za-z0-9_-]*)\\?["']\s*:""")


@functools.lru_cache(maxsize=4096)
def _normalise(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _quotes_phi_document(text: str) -> bool:
    return any(_normalise(key) in PHI_KEYS for key in _QUOTED_KEY.findall(text))


def mask_text(text: str) -> str:
    """Mask SSN-like and phone-like patterns; replace text that quotes a PHI document."""
    if ":" in text and _quotes_phi_document(text):
        return REDACTED_DOCUMENT
    if _DIGIT.search(text) is None:
        return text
    return _PHONE.sub("[PHONE]", _SSN.sub("[SSN]", text))


def redact_value(value: Any) -> Any:
    """A copy of ``value`` with PHI keys' values replaced and free text masked."""
    if isinstance(value, str):
        return mask_text(value)
    if value is None or isinstance(value, int | float):
        return value  # numbers and None, most log fields: nothing to redact
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and _normalise(key) in PHI_KEYS
            else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    return value


def redact_phi(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact the event dict in place (keys starting with ``_`` kept)."""
    for key, value in event_dict.items():
        if key.startswith("_"):
            continue  # structlog's own plumbing (_record, _from_structlog)
        if _normalise(key) in PHI_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(value)
    return event_dict
