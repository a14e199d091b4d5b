"""hubindex: index a model hub, fingerprint checkpoints, recover lineage, answer queries.

The library knows nothing of HTTP or queues; `hubindex.api`, `hubindex.workers` and `hubindex.cli` are thin shells.
"""

__version__ = "0.1.0"
