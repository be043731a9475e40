"""The claims ledger (docs/ledger.md).

Pure domain: ``codes`` (835 status, adjustment groups, CARC/RARC), ``reconciliation``,
``matching``, ``outcome``. Store: ``tables``, ``store`` (``ClaimLedger``), ``database``
(engine, Alembic migrations). Behaviour: ``posting`` (``Poster``), ``transactions``,
``followup_rules`` (the follow-up rules and their YAML), ``followup_decisions``, ``outbox``,
``partner_results``, ``intake`` (claims in), ``timeline``.
Process: ``handler`` (``build_ledger_handler``) and ``cli``. Nothing is imported here, so that
``claimflow --help`` stays light.
"""
