"""One router per resource: models, search, jobs, service (health, metrics)."""
