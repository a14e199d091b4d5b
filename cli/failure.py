"""One `error:` line for any exception a command lets escape: the root cause, not the last wrapper.

Storage and network libraries wrap the cause: DuckDB answers a failed write on a full disk with "cannot rollback -
no transaction is active" while the OSError it was handling says "No space left on device"; kombu wraps redis's
"Connection refused" or "invalid password" in an OperationalError. So the whole chain (__cause__ and __context__) is
read, and a known kind of trouble anywhere in it names the line.
"""

from __future__ import annotations

import errno
import os

from hubindex.errors import HubindexError

_NETWORK_MODULES = ("redis", "kombu", "celery", "amqp")


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from or while handling, outermost first (no cycles). A
    `raise ... from None` ends the chain there, as in Python's own traceback: that error already says it all."""
    seen: list[BaseException] = []
    while exc is not None and all(exc is not s for s in seen):
        seen.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return seen


def _text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # one line, whatever the library put in it
    return text or type(exc).__name__


def _from_broker(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _NETWORK_MODULES


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "no space left on device" in str(exc).lower()


def _auth_failed(exc: BaseException) -> bool:
    name = type(exc).__name__.lower()
    if "authentication" in name or "unauthorized" in name:
        return True
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return True
    text = str(exc).lower()
    return _from_broker(exc) and any(s in text for s in ("wrongpass", "noauth", "invalid password",
                                                         "invalid username-password", "authentication"))


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionRefusedError | TimeoutError):
        return True
    return _from_broker(exc) and ("connect" in type(exc).__name__.lower() or "operational" in type(exc).__name__.lower()
                                  or "connect" in str(exc).lower())


def _broker(exc_chain: list[BaseException]) -> str | None:
    """`broker URL` (password hidden) when the trouble came through the broker's client, else None."""
    if any(_from_broker(e) for e in exc_chain):
        url = os.environ.get("HUBINDEX_BROKER_URL")
        return f"broker {_redacted(url)}" if url else "broker"
    return None


def _redacted(url: str) -> str:
    """A broker URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def explain(exc: BaseException) -> str:
    """The one line printed after `error: `."""
    found = chain(exc)
    for kind, test in (("disk full", _disk_full), ("authentication failed", _auth_failed),
                       ("unreachable", _unreachable)):
        cause = next((e for e in reversed(found) if test(e)), None)
        if cause is None:
            continue
        broker = _broker(found)
        if kind == "unreachable":
            return f"{broker} unreachable: {_text(cause)}" if broker else f"connection failed: {_text(cause)}"
        if kind == "authentication failed" and broker:
            return f"authentication failed at {broker}: {_text(cause)}"
        return f"{kind}: {_text(cause)}"
    if isinstance(exc, HubindexError):
        return _text(exc)
    root = found[-1]
    if root is exc:
        return f"{type(exc).__name__}: {_text(exc)}"
    return f"{_text(exc)} (caused by {type(root).__name__}: {_text(root)})"
