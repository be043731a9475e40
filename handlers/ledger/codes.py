"""X12 835 code sets as Redox carries them: claim status, adjustment groups, CARC and RARC.

Redox sends the 835 meanings as text ("Processed as Primary", "Patient responsibility",
"Deductible amount"); payers and other integrations send the bare codes ("1", "PR", "1"), or
the code with its text ("252 - An attachment/other documentation is required ...",
"PR - Patient Responsibility"). Everything here accepts all three and answers with the code.
"""

from __future__ import annotations

import enum
import functools
import re

__all__ = [
    "DENIAL_NEUTRAL_CARCS",
    "PRIOR_PAYER_CARC",
    "AdjustmentGroup",
    "ClaimStatus",
    "adjustment_group",
    "carc_code",
    "claim_status",
    "payer_rank",
    "rarc_codes",
]

_CACHED = 4096
"""Texts remembered per code lookup: a remittance repeats the same few statuses and codes."""


class ClaimStatus(enum.Enum):
    """CLP02, the payer's verdict on a claim, folded into what the ledger acts on."""

    PROCESSED = "processed"  # 1, 2, 3: processed as primary, secondary, tertiary
    DENIED = "denied"  # 4
    FORWARDED = "forwarded"  # 19, 20, 21: processed and forwarded to another payer
    REVERSAL = "reversal"  # 22: reversal of a previous payment
    NOT_OUR_CLAIM = "not_our_claim"  # 23: not our claim, forwarded
    PREDETERMINATION = "predetermination"  # 25: pricing only, no payment
    UNKNOWN = "unknown"


_STATUS_CODES = {
    "1": ClaimStatus.PROCESSED,
    "2": ClaimStatus.PROCESSED,
    "3": ClaimStatus.PROCESSED,
    "4": ClaimStatus.DENIED,
    "19": ClaimStatus.FORWARDED,
    "20": ClaimStatus.FORWARDED,
    "21": ClaimStatus.FORWARDED,
    "22": ClaimStatus.REVERSAL,
    "23": ClaimStatus.NOT_OUR_CLAIM,
    "25": ClaimStatus.PREDETERMINATION,
}
_STATUS_RANK = {"1": 1, "2": 2, "3": 3, "19": 1, "20": 2, "21": 3}

# Checked in order: "Not Our Claim, Forwarded ..." must win over "Forwarded".
_STATUS_WORDS = (
    ("reversal", ClaimStatus.REVERSAL),
    ("not our claim", ClaimStatus.NOT_OUR_CLAIM),
    ("predetermination", ClaimStatus.PREDETERMINATION),
    ("denied", ClaimStatus.DENIED),
    ("forwarded", ClaimStatus.FORWARDED),
    ("processed as", ClaimStatus.PROCESSED),
)
_RANK_WORDS = (("tertiary", 3), ("secondary", 2), ("primary", 1))

# "4", "22 - Reversal of Previous Payment", "1: Processed as Primary"
_LEADING_CODE = re.compile(r"^\s*(\d{1,2})\s*(?:$|[-:.,)\s])")


def _status_code(text: str) -> str | None:
    found = _LEADING_CODE.match(text)
    return found.group(1) if found else None


@functools.lru_cache(maxsize=_CACHED)
def claim_status(text: str | None) -> ClaimStatus:
    """The status of a Redox ``Claims[].Status``: its text, the 835 code, or both."""
    if not text:
        return ClaimStatus.UNKNOWN
    code = _status_code(text)
    if code in _STATUS_CODES:
        return _STATUS_CODES[code]
    value = " ".join(text.strip().lower().split())
    for word, status in _STATUS_WORDS:
        if word in value:
            return status
    return ClaimStatus.UNKNOWN


@functools.lru_cache(maxsize=_CACHED)
def payer_rank(text: str | None) -> int:
    """Which payer adjudicated, by CLP02: 1 primary, 2 secondary, 3 tertiary, 0 not said."""
    if not text:
        return 0
    code = _status_code(text)
    if code is not None:
        return _STATUS_RANK.get(code, 0)
    value = text.lower()
    for word, rank in _RANK_WORDS:
        if word in value:
            return rank
    return 0


class AdjustmentGroup(enum.Enum):
    """CAS01, who bears an adjustment."""

    CO = "CO"  # contractual obligation: the provider writes it off
    PR = "PR"  # patient responsibility
    OA = "OA"  # other adjustment
    PI = "PI"  # payer-initiated reduction
    CR = "CR"  # correction and reversal (4010 only)
    UNKNOWN = "UNKNOWN"


_GROUP_WORDS = (
    ("patient", AdjustmentGroup.PR),
    ("contractual", AdjustmentGroup.CO),
    ("payer initiated", AdjustmentGroup.PI),
    ("payor initiated", AdjustmentGroup.PI),
    ("other", AdjustmentGroup.OA),
    ("correction", AdjustmentGroup.CR),
)
_GROUP_CODE = re.compile(r"^\s*(CO|PR|OA|PI|CR)\s*(?:$|[-:.,)\s])", re.IGNORECASE)


@functools.lru_cache(maxsize=_CACHED)
def adjustment_group(text: str | None) -> AdjustmentGroup:
    """The group of ``Adjustments[].Type``: "PR", "PR - Patient Responsibility" or the text."""
    if not text:
        return AdjustmentGroup.UNKNOWN
    found = _GROUP_CODE.match(text)
    if found:
        return AdjustmentGroup[found.group(1).upper()]
    lowered = " ".join(text.strip().lower().replace("-", " ").split())
    for word, group in _GROUP_WORDS:
        if word in lowered:
            return group
    return AdjustmentGroup.UNKNOWN


PRIOR_PAYER_CARC = "23"
"""CARC 23, "the impact of prior payer(s) adjudication": what an earlier payer paid or wrote
off, as a later payer reports it. Not a write-off of its own (coordination of benefits)."""

DENIAL_NEUTRAL_CARCS = frozenset({"1", "2", "3", "23", "45", "131", "253", "59", "42", "94"})
"""CARCs that price a claim rather than refuse it: deductible, coinsurance, co-payment, prior
payer, fee schedule, negotiated discount, sequestration, multiple-procedure rules, maximum
allowable, processed in excess of charges. A zero payment explained only by these is
adjudicated, not denied."""


def _fold(text: str) -> str:
    return " ".join(text.strip().lower().rstrip(". ").replace("\u2019", "'").split())


# Official CARC descriptions (x12.org), folded (_fold), of the codes the ledger, the default
# follow-up rules and everyday remittances use.
_CARC_TEXT = {
    _fold(text): code
    for code, text in (
        ("1", "Deductible Amount"),
        ("2", "Coinsurance Amount"),
        ("3", "Co-payment Amount"),
        ("3", "Copayment Amount"),
        ("4", "The procedure code is inconsistent with the modifier used"),
        ("11", "The diagnosis is inconsistent with the procedure"),
        ("16", "Claim/service lacks information or has submission/billing error(s)"),
        ("18", "Exact duplicate claim/service"),
        ("22", "This care may be covered by another payer per coordination of benefits"),
        (
            "23",
            "The impact of prior payer(s) adjudication including payments and/or adjustments",
        ),
        ("27", "Expenses incurred after coverage terminated"),
        ("29", "The time limit for filing has expired"),
        (
            "45",
            "Charge exceeds fee schedule/maximum allowable or contracted/legislated fee "
            "arrangement",
        ),
        (
            "50",
            "These are non-covered services because this is not deemed a 'medical necessity' "
            "by the payer",
        ),
        ("96", "Non-covered charge(s)"),
        (
            "97",
            "The benefit for this service is included in the payment/allowance for another "
            "service/procedure that has already been adjudicated",
        ),
        (
            "109",
            "Claim/service not covered by this payer/contractor. You must send the "
            "claim/service to the correct payer/contractor",
        ),
        ("131", "Claim specific negotiated discount"),
        ("163", "The attachment/other documentation referenced on the claim was not received"),
        (
            "164",
            "The attachment/other documentation referenced on the claim was not received in a "
            "timely fashion",
        ),
        ("197", "Precertification/notification/authorization/pre-treatment absent"),
        (
            "204",
            "This service/equipment/drug is not covered under the patient's current benefit plan",
        ),
        (
            "226",
            "Information requested from the Billing/Rendering Provider was not provided or not "
            "provided timely or was insufficient/incomplete",
        ),
        (
            "250",
            "The attachment/other documentation that was received was the incorrect "
            "attachment/document",
        ),
        (
            "251",
            "The attachment/other documentation that was received was incomplete or deficient",
        ),
        ("252", "An attachment/other documentation is required to adjudicate this claim/service"),
        ("253", "Sequestration - reduction in federal payment"),
    )
}

# "252", "CO-252", "CO 252", "252 - An attachment ...", "CO-252: text", "A1"
_CARC_CODE = re.compile(
    r"^(?:(?:CO|PR|OA|PI|CR)\s*-?\s*)?([ABDPWY]?\d{1,3})(?:\s*(?:[-:\u2013]|\s)\s*.*)?$",
    re.IGNORECASE | re.DOTALL,
)
_RARC_CODE = re.compile(r"\b(MA\d{1,3}|M\d{1,3}|N\d{1,4})\b")

# Official RARC descriptions of the remarks the default rules use, folded.
_RARC_TEXT = {
    _fold(text): code
    for code, text in (
        ("M127", "Missing patient medical record for this service"),
        ("N706", "Missing documentation"),
        ("M51", "Missing/incomplete/invalid procedure code(s)"),
        (
            "MA130",
            "Your claim contains incomplete and/or invalid information, and no appeal "
            "rights are afforded because the claim is unprocessable. Submit a new claim with the "
            "complete/correct information",
        ),
        ("N290", "Missing/incomplete/invalid rendering provider primary identifier"),
    )
}


def _by_description(table: dict[str, str], text: str) -> str | None:
    folded = _fold(text)
    if folded in table:
        return table[folded]
    if len(folded) >= 16:  # a description cut short by the sender
        for description, code in table.items():
            if description.startswith(folded):
                return code
    return None


@functools.lru_cache(maxsize=_CACHED)
def carc_code(reason: str | None) -> str | None:
    """The CARC of an adjustment ``Reason``: "252", "CO-252", "252 - text" or the text."""
    if not reason:
        return None
    value = reason.strip()
    found = _CARC_CODE.match(value)
    if found:
        return found.group(1).upper()
    return _by_description(_CARC_TEXT, value)


def rarc_codes(text: str | None) -> list[str]:
    """The remark codes (M127, MA130, N706) named in a text, or the one it describes."""
    return list(_rarc_codes(text))


@functools.lru_cache(maxsize=_CACHED)
def _rarc_codes(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    codes: list[str] = _RARC_CODE.findall(text.upper())
    if not codes and (code := _by_description(_RARC_TEXT, text)) is not None:
        codes.append(code)
    return tuple(codes)
