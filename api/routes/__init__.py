"""One router per resource: models, search, jobs, service (health, metrics), atlas (the web page)."""
