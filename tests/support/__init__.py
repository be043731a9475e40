"""Test support every test area shares: sandbox apps over real HTTP, Kafka reads, waiting."""
