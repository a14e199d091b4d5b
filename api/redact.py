"""Public answers name models by id and files by relative name, never by where they sit on the server: a public
server's paths would tell a caller its user names, mount points and layout. A server started with `--debug`
answers with the paths as stored."""

from __future__ import annotations

import re
from pathlib import Path

from hubindex.catalog.answers import ModelView
from hubindex.service_answers import JobStatus

_ABSOLUTE = re.compile(r"(?<![\w:/.])/(?:[^\s'\"/:,;()]+/)*[^\s'\"/:,;()]*")  # a POSIX path not inside a URL


def public_name(path: str | None, roots: list[Path]) -> str | None:
    """A server path as a caller may see it: relative to the index root that holds it (under the root's name),
    else its last part."""
    if not path or not path.startswith("/"):
        return path
    resolved = Path(path)
    for root in roots:
        if resolved == root or resolved.is_relative_to(root):
            return str(Path(root.name) / resolved.relative_to(root))
    return resolved.name


def scrub(text: str | None, prefixes: list[str]) -> str | None:
    """An error message without server paths: known folders become relative, any other absolute path its name."""
    if not text:
        return text
    for prefix in sorted({p.rstrip("/") for p in prefixes if p and p.startswith("/")}, key=len, reverse=True):
        text = text.replace(prefix + "/", "")
    return _ABSOLUTE.sub(lambda m: Path(m.group(0)).name or "/", text)


def model_view(view: ModelView, roots: list[Path]) -> ModelView:
    return view.model_copy(update={"path": None, "source": public_name(view.source, roots),
                                   "error": scrub(view.error, [view.path or "", view.source])})


def job_status(job: JobStatus, roots: list[Path]) -> JobStatus:
    prefixes = [str(r) for r in roots]
    request = job.request.model_copy(update={"paths": [public_name(p, roots) or p for p in job.request.paths]})
    result = job.result
    if result is not None:
        failed = [f.model_copy(update={"error": scrub(f.error, prefixes)}) for f in result.failed]
        result = result.model_copy(update={"db": Path(result.db).name, "failed": failed})
    return job.model_copy(update={"request": request, "result": result, "error": scrub(job.error, prefixes)})
