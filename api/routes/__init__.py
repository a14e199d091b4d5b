"""One router per resource: models, lineage, search, jobs, service (health, metrics), atlas (the web page)."""
