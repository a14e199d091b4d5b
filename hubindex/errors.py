"""Errors hubindex raises on bad input. Each carries a message a user can act on."""


class HubindexError(Exception):
    """Base class: the CLI prints these as `error: <message>` and exits with status 2."""


class NotFoundError(HubindexError):
    """A model (or its lineage, or a job) the caller asked for is not in the catalog."""


class CheckpointError(HubindexError):
    """A checkpoint folder or weight file is missing, corrupt, unsupported or inconsistent."""


class UnsupportedFormatError(CheckpointError):
    """Weights exist only in a format hubindex never loads (pickle `.bin`, `.pt`, `.ckpt`)."""


class MergeError(HubindexError):
    """A merge recipe is invalid or its inputs are incompatible; raised before any output is written."""


class TrainingError(HubindexError):
    """A training run cannot start (bad data file, unknown domain or architecture)."""
