"""Use cases: each reads what it needs, calls the pure rules, writes one transaction."""
