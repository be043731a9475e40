"""The billing worklist: a signed-in web page where staff work what the ledger could not decide.

``claimflow web`` serves :func:`worklist.app.create_app`. The worklist reads the ledger through
:mod:`worklist.read_model` (the only module with queries over the ledger's tables) and records
decisions and page views through the ledger's outbox (:mod:`worklist.notes`,
:mod:`worklist.audit`).
"""
