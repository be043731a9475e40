"""The receiver: Redox webhooks in, durably into Kafka (``receiver.app.create_app``)."""
