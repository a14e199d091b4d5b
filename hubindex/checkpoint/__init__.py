"""Reading and writing checkpoints: safetensors only, tensor by tensor, with validation at the edge."""

from hubindex.checkpoint.folder import ModelFolder
from hubindex.checkpoint.safetensors_file import SafetensorsFile, TensorInfo
from hubindex.checkpoint.writer import PlannedTensor, ShardedWriter

__all__ = ["ModelFolder", "PlannedTensor", "SafetensorsFile", "ShardedWriter", "TensorInfo"]
