"""The follow-up wing: it acts on the ledger's decisions and reports what the partners answered.

``status_check`` (Integrex claim status inquiries) and ``attachment`` (Availity claim
attachments) consume the commands the ledger publishes, record each as a durable timer in
``state`` (outbound requests, due-time poller, request budgets, their migrations), call the
partners through ``partners`` (clients, OAuth, resilience) with the documents of ``documents``,
and publish a result per command. They decide nothing: which follow-up a claim gets is the
ledger's rules alone (``handlers.ledger.followup_rules``). Nothing is imported here.
"""
