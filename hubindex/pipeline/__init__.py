"""The pipeline core that indexing (`hubindex.indexer`) and crawling (`hubindex.hub`) plug into.

A run kind (`run.Run` subclass) lists its phases; each phase is a `stage.Stage` that plans typed jobs, executes one
job anywhere (in the owner's process or on a queue worker) and records its result. `local.run_locally` drives a run
in one process; `hubindex.workers` drives the same run, with the same stages, over Celery queues.
"""
