"""Follow-up rules as data: which claim payments call for a status check or an attachment.

A rules file (YAML, ``HandlerSettings.rules_file``; the defaults are ``followup_rules.yaml``
next to this module, documented in docs/follow-up-rules.md) lists rules in order. A rule fires
when every condition of its ``when`` holds and no condition of its ``unless`` does; each
condition is a list, and holds when the claim payment has any of its values. Every rule that
fires yields one decision; a claim payment can have several (one per rule).

Actions: ``status_check`` (an Integrex claim status inquiry), ``attachment`` (an Availity
attachment with the rule's LOINC documents) and ``work_by_hand`` (an item for billing staff,
naming the reason; no partner command).

Conditions: ``outcome`` (paid_in_full, partially_paid, patient_responsibility, denied,
reversed, forwarded, not_our_claim, predetermination, unmatched, needs_review),
``claim_status`` (the 835 code such as "4", or its meaning such as "denied"), ``carc``
(adjustment reason codes, from codes or the official text), ``rarc`` (remark codes),
``reason_text`` (words in an adjustment's Reason), ``match`` (matched, needs_review,
unmatched), ``reconciliation`` (balanced, difference), ``transaction`` (balanced,
difference: the payment's transaction total) and ``flag`` (negative_payment,
possible_duplicate, reversal_without_original, credit_balance, overpayment,
reconciliation_difference, unknown_status); and for a payer's answer to a status check,
``status_category`` (its X12 claim status category, such as R4 "documentation requested") and
``status_code`` (its X12 claim status code, such as 21). Rules with a ``transaction`` condition
are decided once every claim of the transaction has arrived, for each matched claim of it; rules
with a ``status_category`` or ``status_code`` condition when the ledger records Integrex's
answer to a status check it asked for (the partner handlers only report the answer); the others
as each claim payment arrives.

No denial falls through: a ``denied`` payment for which no rule fires gets the built-in
``denial-not-covered`` decision (work by hand, naming the denial's reason codes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from claimflow.settings import ConfigurationError
from handlers.ledger.codes import ClaimStatus, carc_code, claim_status

__all__ = [
    "DEFAULT_RULES_FILE",
    "DENIAL_FALLBACK_RULE",
    "Conditions",
    "Decision",
    "FollowUpFacts",
    "Rule",
    "RuleSet",
    "RulesError",
    "decide",
    "load_rules",
]

DEFAULT_RULES_FILE = Path(__file__).with_name("followup_rules.yaml")

Action = Literal["status_check", "attachment", "work_by_hand"]

# When a rule is decided: as a claim payment arrives, once its whole transaction has, or when a
# payer answers a status check.
Stage = Literal["payment", "transaction", "status_answer"]

DENIAL_FALLBACK_RULE = "denial-not-covered"


class RulesError(ConfigurationError):
    """The rules file cannot be read or is not valid; the message names file, rule and field."""


class Conditions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: list[str] | None = None
    claim_status: list[str] | None = None
    carc: list[str] | None = None
    rarc: list[str] | None = None
    reason_text: list[str] | None = None
    match: list[Literal["matched", "needs_review", "unmatched"]] | None = None
    reconciliation: list[Literal["balanced", "difference"]] | None = None
    transaction: list[Literal["balanced", "difference"]] | None = None
    flag: list[str] | None = None
    status_category: list[str] | None = None
    status_code: list[str] | None = None

    @property
    def stage(self) -> Stage:
        if self.status_category is not None or self.status_code is not None:
            return "status_answer"
        return "transaction" if self.transaction is not None else "payment"

    @field_validator("status_category")
    @classmethod
    def _category_codes(cls, values: list[str] | None) -> list[str] | None:
        return [v.strip().upper() for v in values] if values else values

    @field_validator("status_code")
    @classmethod
    def _status_codes(cls, values: list[str] | None) -> list[str] | None:
        return [_status_code(v) for v in values] if values else values

    @field_validator("claim_status")
    @classmethod
    def _known_status(cls, values: list[str] | None) -> list[str] | None:
        for value in values or []:
            if (
                value not in ClaimStatus._value2member_map_
                and claim_status(value) is ClaimStatus.UNKNOWN
            ):
                raise ValueError(f"unknown claim status {value!r}")
        return values

    @field_validator("carc")
    @classmethod
    def _carc_codes(cls, values: list[str] | None) -> list[str] | None:
        return [carc_code(v) or v for v in values] if values else values


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    when: Conditions = Field(default_factory=Conditions)
    unless: Conditions | None = None
    action: Action
    reason: str
    loinc: list[str] = Field(default_factory=list, description="Documents an attachment sends.")


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    rules: list[Rule]
    # Each stage's rules, compiled, with their decisions: worked out once (``decide``).
    _staged: dict[Stage, tuple[_CompiledRule, ...]] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._staged = _stage(self.rules)

    @field_validator("rules")
    @classmethod
    def _attachments_name_documents(cls, rules: list[Rule]) -> list[Rule]:
        names = [r.name for r in rules]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique")
        for rule in rules:
            if rule.action == "attachment" and not rule.loinc:
                raise ValueError(f"rule {rule.name}: an attachment rule needs loinc codes")
            if rule.when.transaction is not None and rule.when.stage == "status_answer":
                raise ValueError(
                    f"rule {rule.name}: a rule is about a transaction or a status answer, not both"
                )
        return rules


def _status_code(value: str) -> str:
    """An X12 claim status code as the rules compare it (``"021"`` is ``"21"``)."""
    code = value.strip()
    return str(int(code)) if code.isdigit() else code.upper()


@dataclass(frozen=True, slots=True)
class FollowUpFacts:
    """What the rules look at, for one claim payment or one payer's answer about a claim."""

    outcome: str
    status: ClaimStatus
    carcs: frozenset[str]
    rarcs: frozenset[str]
    reasons: tuple[str, ...]
    match: str
    reconciled: bool
    transaction_balanced: bool | None = None
    flags: frozenset[str] = frozenset()
    status_category: str | None = None
    status_codes: frozenset[str] = frozenset()

    @classmethod
    def of_status_answer(cls, category: str, status_codes: Iterable[str]) -> FollowUpFacts:
        """The facts of a payer's answer to a status check about a claim the ledger matched."""
        return cls(
            outcome="status_answer",
            status=ClaimStatus.UNKNOWN,
            carcs=frozenset(),
            rarcs=frozenset(),
            reasons=(),
            match="matched",
            reconciled=True,
            status_category=category.strip().upper(),
            status_codes=frozenset(_status_code(c) for c in status_codes),
        )

    @property
    def stage(self) -> Stage:
        if self.status_category is not None:
            return "status_answer"
        return "transaction" if self.transaction_balanced is not None else "payment"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    rule: str
    reason: str
    loinc_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _CompiledConditions:
    """A ``Conditions`` as the sets ``_holds`` compares with (None: no such condition)."""

    outcome: frozenset[str] | None
    claim_status: frozenset[ClaimStatus] | None
    carc: frozenset[str] | None
    rarc: frozenset[str] | None
    reason_words: tuple[str, ...] | None
    match: frozenset[str] | None
    reconciliation: frozenset[str] | None
    transaction: frozenset[str] | None
    flag: frozenset[str] | None
    status_category: frozenset[str] | None
    status_code: frozenset[str] | None

    @classmethod
    def of(cls, c: Conditions) -> _CompiledConditions:
        def of_set(values: list[str] | None) -> frozenset[str] | None:
            return None if values is None else frozenset(values)

        return cls(
            outcome=of_set(c.outcome),
            claim_status=None
            if c.claim_status is None
            else frozenset(
                ClaimStatus(v) if v in ClaimStatus._value2member_map_ else claim_status(v)
                for v in c.claim_status
            ),
            carc=of_set(c.carc),
            rarc=None if c.rarc is None else frozenset(r.upper() for r in c.rarc),
            reason_words=None if c.reason_text is None else tuple(w.lower() for w in c.reason_text),
            match=of_set(list(c.match) if c.match is not None else None),
            reconciliation=of_set(list(c.reconciliation) if c.reconciliation is not None else None),
            transaction=of_set(list(c.transaction) if c.transaction is not None else None),
            flag=of_set(c.flag),
            status_category=of_set(c.status_category),
            status_code=of_set(c.status_code),
        )


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    when: _CompiledConditions
    unless: _CompiledConditions | None
    decision: Decision


def _holds(c: _CompiledConditions, f: FollowUpFacts) -> bool:
    """Every condition of ``c`` holds for ``f``."""
    if c.outcome is not None and f.outcome not in c.outcome:
        return False
    if c.claim_status is not None and f.status not in c.claim_status:
        return False
    if c.carc is not None and not (f.carcs & c.carc):
        return False
    if c.rarc is not None and not (f.rarcs & c.rarc):
        return False
    if c.reason_words is not None:
        texts = [r.lower() for r in f.reasons]
        if not any(w in t for w in c.reason_words for t in texts):
            return False
    if c.match is not None and f.match not in c.match:
        return False
    if (
        c.reconciliation is not None
        and ("balanced" if f.reconciled else "difference") not in c.reconciliation
    ):
        return False
    if c.transaction is not None and (
        f.transaction_balanced is None
        or ("balanced" if f.transaction_balanced else "difference") not in c.transaction
    ):
        return False
    if c.flag is not None and not (f.flags & c.flag):
        return False
    if c.status_category is not None and f.status_category not in c.status_category:
        return False
    return c.status_code is None or bool(f.status_codes & c.status_code)


def _stage(rules: Iterable[Rule]) -> dict[Stage, tuple[_CompiledRule, ...]]:
    """The rules of each stage, in rule order, compiled, each with the decision it yields."""
    staged: dict[Stage, list[_CompiledRule]] = {
        "payment": [],
        "transaction": [],
        "status_answer": [],
    }
    for rule in rules:
        staged[rule.when.stage].append(
            _CompiledRule(
                when=_CompiledConditions.of(rule.when),
                unless=_CompiledConditions.of(rule.unless) if rule.unless else None,
                decision=Decision(rule.action, rule.name, rule.reason, tuple(rule.loinc)),
            )
        )
    return {stage: tuple(found) for stage, found in staged.items()}


def _staged(rules: RuleSet) -> dict[Stage, tuple[_CompiledRule, ...]]:
    # Read straight from the model's private values: ``rules._staged`` would go through
    # pydantic's ``__getattr__`` on every decision.
    private: dict[str, Any] = rules.__pydantic_private__ or {}
    staged: dict[Stage, tuple[_CompiledRule, ...]] | None = private.get("_staged")
    return staged if staged else _stage(rules.rules)


def decide(facts: FollowUpFacts, rules: RuleSet) -> list[Decision]:
    """The decisions of every rule that fires, in rule order."""
    out: list[Decision] = []
    stage = facts.stage
    # Transaction rules are decided once the whole transaction has arrived, status-answer
    # rules when a payer answers a status check, the others as each claim payment arrives.
    for rule in _staged(rules)[stage]:
        if _holds(rule.when, facts) and not (rule.unless and _holds(rule.unless, facts)):
            out.append(rule.decision)
    if not out and facts.outcome == "denied" and stage == "payment":
        codes = ", ".join(sorted(facts.carcs | facts.rarcs)) or "no reason code"
        out.append(
            Decision(
                "work_by_hand",
                DENIAL_FALLBACK_RULE,
                f"denied ({codes}) and no rule decides what to do: work it by hand",
                (),
            )
        )
    return out


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and validate a rules file (the defaults when ``path`` is None)."""
    source = path or DEFAULT_RULES_FILE
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"{source}: cannot read rules: {type(exc).__name__}") from exc
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise RulesError(f"{source}: {problems}") from exc
