"""Is there a CUDA device for the gpu stages? Asked without importing torch (10 s of CPU and 400 MB for a worker
that may only route jobs): the CUDA driver library says how many devices this process may use (it honours
CUDA_VISIBLE_DEVICES), and torch's build says whether it was compiled with CUDA (`torch/version.py`, read as text).
The stages themselves still pick their device with torch when they run.
"""

from __future__ import annotations

import ast
import ctypes
import ctypes.util
import importlib.util
from pathlib import Path

_DRIVER_LIBRARIES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")


def cuda_devices() -> int:
    """Devices the CUDA driver shows this process; 0 without a driver or when it fails to start."""
    for name in (*_DRIVER_LIBRARIES, ctypes.util.find_library("cuda")):
        if not name:
            continue
        try:
            driver = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


def torch_built_with_cuda() -> bool:
    """Whether the installed torch was built with CUDA (`torch.version.cuda` is set), read without importing it."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    path = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError):
        return False
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id == "cuda" and node.value is not None:
            return isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    return False


def cuda_available() -> bool:
    """What `torch.cuda.is_available()` answers, without torch: a CUDA build of torch and a device to run on."""
    return torch_built_with_cuda() and cuda_devices() > 0
