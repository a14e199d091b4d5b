"""hubindex.workers: Celery tasks over the library (see the "Distributed pipeline" issue)."""
