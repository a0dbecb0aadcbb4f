"""Loyalty engine: program, domain rules, DynamoDB store, services, API and CLI."""
