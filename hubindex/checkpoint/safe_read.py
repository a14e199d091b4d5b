"""Reading files of a model folder someone else made: regular files only, inside the folder, within a size cap.

Every reader of a model folder (checkpoint, metadata, card, tokenizer check) goes through here, so one place decides:
- symlinks are followed only to a target inside the folder itself or, for a snapshot of a huggingface_hub cache
  (`.../models--{org}--{name}/snapshots/{sha}/`), inside that repo's `blobs/` or the cache-wide shared `blobs/`;
- a file is opened without blocking (O_NONBLOCK: a FIFO cannot stall the open) and checked on the descriptor (fstat):
  FIFOs, devices and sockets are refused, whatever their name or the link that led to them;
- each kind of file has a size cap, checked before a byte is read; a file that claims less than it holds is cut off at
  the cap, so reading costs at most the cap;
- JSON is parsed with a bound on nesting, and YAML with the safe loader and a bound on aliases ("billion laughs").

Refusals are `RefusedFile` (a CheckpointError): the model is recorded as bad with the reason, and no message ever
quotes the file's bytes.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import yaml

from hubindex.errors import CheckpointError

MiB = 1 << 20
MAX_JSON_DEPTH = 64  # real configs and tokenizer files nest fewer than 10 levels
MAX_YAML_NODES = 100_000  # front matter with every alias expanded; real cards have a few hundred nodes
# Caps per file name: far above any real file of the kind, far below what would hurt to read.
CAPS: dict[str, int] = {
    "config.json": 4 * MiB,
    "generation_config.json": 4 * MiB,
    "adapter_config.json": 4 * MiB,
    "README.md": 4 * MiB,
    "model.safetensors.index.json": 64 * MiB,
    "tokenizer.json": 128 * MiB,
    "tokenizer_config.json": 16 * MiB,
    "special_tokens_map.json": 4 * MiB,
    "added_tokens.json": 16 * MiB,
    "tokenizer.model": 64 * MiB,
    "vocab.json": 64 * MiB,
    "vocab.txt": 64 * MiB,
    "merges.txt": 64 * MiB,
    "chat_template.jinja": 4 * MiB,
    "chat_template.json": 4 * MiB,
}
DEFAULT_CAP = 4 * MiB  # other small files (JSON indexes of other names)
# A weight file whose allocated blocks are under half its size is mostly holes: a real checkpoint has none, and
# reading holes as weights would cost the claimed size in time and memory.
SPARSE_MIN_BYTES = 64 * MiB
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)


class RefusedFile(CheckpointError):
    """A file hubindex will not read: not a regular file, a symlink out of the folder, over its cap, too deep."""


def cap_for(name: str) -> int:
    return CAPS.get(name, DEFAULT_CAP)


def hf_cache_blobs(folder: Path) -> tuple[Path, ...]:
    """Where the files of a huggingface_hub cache snapshot (`models--{org}--{name}/snapshots/{sha}`) may link to: the
    repo's `blobs/` and the cache-wide shared store `blobs/` beside the repos (huggingface_hub >= 2 keeps Xet files
    there, linked from the repo's blobs). Empty for any other folder."""
    snapshots = folder.parent
    repo = snapshots.parent
    if snapshots.name == "snapshots" and repo.name.startswith("models--"):
        return repo / "blobs", repo.parent / "blobs"
    return ()


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_inside(path: Path, folder: Path | None = None) -> str:
    """The real path of a file of `folder` (default: its parent), refusing links that lead anywhere else."""
    path = Path(path)
    folder = Path(folder) if folder is not None else path.parent
    real_folder = os.path.realpath(folder)
    target = os.path.realpath(path)
    if _inside(target, real_folder):
        return target
    blobs = hf_cache_blobs(Path(real_folder))
    if any(_inside(target, os.path.realpath(store)) for store in blobs):
        return target
    where = "the model folder or its huggingface_hub cache's blobs/" if blobs else "the model folder"
    raise RefusedFile(f"{path}: symbolic link to a file outside {where}; not followed")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: Path, folder: Path | None = None) -> tuple[int, os.stat_result]:
    """Open a model folder's file for reading: (descriptor, its fstat). The caller closes the descriptor."""
    target = resolve_inside(path, folder)
    try:
        fd = os.open(target, _OPEN_FLAGS)
    except FileNotFoundError:
        raise CheckpointError(f"{Path(path).parent}: missing {Path(path).name}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RefusedFile(f"{path}: symbolic link loop or link swapped while opening; not followed") from None
        raise CheckpointError(f"{path}: cannot open ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise RefusedFile(f"{path}: {_kind(info.st_mode)}, not a regular file; not read")
    return fd, info


def check_size(path: Path, size: int, cap: int) -> None:
    if size > cap:
        raise RefusedFile(f"{path}: {size} bytes, over the {_human(cap)} cap for {Path(path).name}; not read")


def check_not_sparse(path: Path, info: os.stat_result) -> None:
    allocated = info.st_blocks * 512
    if info.st_size >= SPARSE_MIN_BYTES and allocated < info.st_size // 2:
        raise RefusedFile(f"{path}: sparse file ({_human(allocated)} allocated of {_human(info.st_size)} claimed); "
                          "holes are not weights, not read")


def read_capped(path: Path, folder: Path | None = None, cap: int | None = None) -> bytes:
    """The whole file, refused when it is (or turns out to be, while reading) larger than its cap."""
    cap = cap_for(Path(path).name) if cap is None else cap
    fd, info = open_regular(path, folder)
    try:
        check_size(path, info.st_size, cap)
        data = read_prefix(fd, cap + 1, path)  # st_size can lie (a file growing, a special mount): stop at cap + 1
    finally:
        os.close(fd)
    check_size(path, len(data), cap)
    return data


def read_prefix(fd: int, size: int, path: Path) -> bytes:
    """Up to `size` bytes from the start of an open file."""
    chunks, got = [], 0
    try:
        while got < size:
            chunk = os.pread(fd, min(size - got, 4 * MiB), got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror})") from None
    return b"".join(chunks)


def _depth(value: object) -> int:
    """Nesting depth of parsed JSON or YAML, without recursion (shared YAML nodes are walked once)."""
    deepest, stack, seen = 0, [(value, 1)], set()
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:
                continue
            seen.add(id(item))
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(data: bytes | str, source: str, object_limit: int | None = None) -> object:
    """JSON with bounded nesting; `object_limit` stops a parse that builds more objects than any real file has."""
    hook = None
    if object_limit is not None:
        count = 0

        def hook(pairs: list) -> dict:
            nonlocal count
            count += 1
            if count > object_limit:
                raise _TooMany
            return dict(pairs)

    try:
        value = json.loads(data, object_pairs_hook=hook)
    except _TooMany:
        raise RefusedFile(f"{source}: more than {object_limit} JSON objects; not parsed further") from None
    except RecursionError:
        raise RefusedFile(f"{source}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, and ints past Python's digit limit
        raise CheckpointError(f"{source}: not valid JSON ({_no_content(exc)})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise RefusedFile(f"{source}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


class _TooMany(Exception):
    pass


def read_json(path: Path, folder: Path | None = None, cap: int | None = None) -> dict:
    """A JSON object file of a model folder, read within its cap and parsed within the depth bound."""
    value = parse_json(read_capped(path, folder, cap), str(path))
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return value


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: a 4 MiB card scans in milliseconds


def _expanded_nodes(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded, counted without expanding (memoised per node);
    -1 for a recursive alias. This is what a consumer walking the parsed value (json.dumps, str) would pay."""
    sizes: dict[int, int] = {}  # -1 while a node's children are being counted (it is on the current path)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, counted = stack.pop()
        items = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
        if counted:
            sizes[id(node)] = min(1 + sum(sizes[id(child)] for child in items), MAX_YAML_NODES + 1)
            continue
        state = sizes.get(id(node))
        if state is not None:
            if state < 0:
                return -1  # an ancestor of itself
            continue
        sizes[id(node)] = -1
        stack.append((node, True))
        stack.extend((child, False) for child in items)
    return sizes[id(root)]


def parse_yaml(text: str, source: str) -> object:
    """YAML with the safe loader (no python tags), refused when its aliases expand past MAX_YAML_NODES nodes."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_nodes(node)
        if size < 0:
            raise RefusedFile(f"{source}: YAML alias that contains itself; not parsed further")
        if size > MAX_YAML_NODES:
            raise RefusedFile(f"{source}: YAML aliases expand to more than {MAX_YAML_NODES} nodes "
                              "(a \"billion laughs\"); not parsed further")
        value = loader.construct_document(node)
    except RecursionError:
        raise RefusedFile(f"{source}: YAML nested deeper than {MAX_JSON_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        if "nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own bound (1,000 levels)
            raise RefusedFile(f"{source}: YAML nested deeper than {MAX_JSON_DEPTH} levels") from None
        raise CheckpointError(f"{source}: not valid YAML ({_no_content(exc)})") from None
    finally:
        loader.dispose()
    if _depth(value) > MAX_JSON_DEPTH:
        raise RefusedFile(f"{source}: YAML nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def check_folder(folder: Path) -> None:
    """Refuse a folder holding a FIFO, device, socket, a link out of it, or a known file over its cap.

    Libraries that load a folder by name (transformers, peft) open whatever it holds; checking every entry first is
    what keeps them from blocking on a FIFO or reading /dev/zero. Only `lstat`/`stat` here: nothing is opened.
    """
    folder = Path(folder)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise CheckpointError(f"{folder}: cannot list ({exc.strerror})") from None
    for entry in entries:
        path = Path(entry.path)
        if entry.is_symlink():
            target = resolve_inside(path, folder)
            try:
                info = os.stat(target)
            except OSError:
                continue  # a dangling link: whoever needs that file reports it missing
        else:
            info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            continue  # subfolders are not read
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile(f"{path}: {_kind(info.st_mode)}, not a regular file; the folder is not read")
        if entry.name in CAPS:
            check_size(path, info.st_size, CAPS[entry.name])


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.0f} {unit}"
    return f"{n} bytes"


def _no_content(exc: Exception) -> str:
    """A parser's error without the text it quotes: position and kind only."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"{exc.problem or 'syntax error'} at line {exc.problem_mark.line + 1}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 at byte {exc.start}"
    if "integer string conversion" in str(exc):
        return "an integer of more than 4300 digits"
    return type(exc).__name__
