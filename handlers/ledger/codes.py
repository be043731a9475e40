"""X12 835 code sets as Redox carries them: claim status, adjustment groups, CARC and RARC.

Redox sends the 835 meanings as text ("Processed as Primary", "Patient responsibility",
"Deductible amount"); payers and other integrations send the numeric codes ("1", "PR", "1").
Everything here accepts both and answers with the code.
"""

from __future__ import annotations

import enum
import re

__all__ = [
    "AdjustmentGroup",
    "ClaimStatus",
    "adjustment_group",
    "carc_code",
    "claim_status",
    "rarc_codes",
]


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

# Checked in order: "Not Our Claim, Forwarded ..." must win over "Forwarded".
_STATUS_WORDS = (
    ("reversal", ClaimStatus.REVERSAL),
    ("not our claim", ClaimStatus.NOT_OUR_CLAIM),
    ("predetermination", ClaimStatus.PREDETERMINATION),
    ("denied", ClaimStatus.DENIED),
    ("forwarded", ClaimStatus.FORWARDED),
    ("processed as", ClaimStatus.PROCESSED),
)


def claim_status(text: str | None) -> ClaimStatus:
    """The status of a Redox ``Claims[].Status``: its text or the numeric 835 code."""
    if not text:
        return ClaimStatus.UNKNOWN
    value = text.strip().lower()
    if value in _STATUS_CODES:
        return _STATUS_CODES[value]
    for word, status in _STATUS_WORDS:
        if word in value:
            return status
    return ClaimStatus.UNKNOWN


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


def adjustment_group(text: str | None) -> AdjustmentGroup:
    """The group of a Redox ``Adjustments[].Type``: "Patient responsibility" or "PR"."""
    if not text:
        return AdjustmentGroup.UNKNOWN
    value = text.strip()
    if value.upper() in AdjustmentGroup.__members__:
        return AdjustmentGroup[value.upper()]
    lowered = value.lower().replace("-", " ")
    for word, group in _GROUP_WORDS:
        if word in lowered:
            return group
    return AdjustmentGroup.UNKNOWN


# Official CARC descriptions (x12.org), lower-cased and without trailing punctuation, of the
# codes the ledger and the default follow-up rules care about.
_CARC_TEXT = {
    "deductible amount": "1",
    "coinsurance amount": "2",
    "co-payment amount": "3",
    "copayment amount": "3",
    "claim/service lacks information or has submission/billing error(s)": "16",
    "exact duplicate claim/service": "18",
    "the time limit for filing has expired": "29",
    "charge exceeds fee schedule/maximum allowable or contracted/legislated fee arrangement": "45",
    "claim specific negotiated discount": "131",
    "the attachment/other documentation referenced on the claim was not received": "163",
    "the attachment/other documentation referenced on the claim was not received "
    "in a timely fashion": "164",
    "information requested from the billing/rendering provider was not provided or not "
    "provided timely or was insufficient/incomplete": "226",
    "the attachment/other documentation that was received was the incorrect attachment/"
    "document": "250",
    "the attachment/other documentation that was received was incomplete or deficient": "251",
    "an attachment/other documentation is required to adjudicate this claim/service": "252",
}

_CARC_CODE = re.compile(r"^(?:(?:CO|PR|OA|PI|CR)\s*-?\s*)?([ABDPWY]?\d{1,3})$")
_RARC_CODE = re.compile(r"\b(M\d{1,3}|MA\d{1,3}|N\d{1,4})\b")


def carc_code(reason: str | None) -> str | None:
    """The CARC of an adjustment ``Reason``: "252", "CO-252" or its official text."""
    if not reason:
        return None
    value = reason.strip()
    found = _CARC_CODE.match(value.upper())
    if found:
        return found.group(1)
    return _CARC_TEXT.get(value.lower().rstrip(". "))


def rarc_codes(text: str | None) -> list[str]:
    """The remark codes (M127, MA130, N706) named in a reason or reference text."""
    if not text:
        return []
    return _RARC_CODE.findall(text.upper())
