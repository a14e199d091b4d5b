"""Hidden states of a model on probe prompts, batched with right padding.

Padding is on the right and every read goes through the attention mask: the last real token of each row is
gathered by its index, and mean pooling averages real tokens only, so batching gives the same features as running
each probe alone (tested). Besides hidden states, each probe's mean next-token loss is read (the `nll` read-out:
how much a finetune's predictions of each passage changed), from the final hidden states through the output head.
"""

from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

from hubindex.checkpoint import ModelFolder
from hubindex.embed.probes import MAX_TOKENS
from hubindex.errors import CheckpointError

transformers_logging.disable_progress_bar()  # one bar per model load would bury the run's own progress
# peft calls a transformers helper deprecated in 5.x on every adapter load; it says nothing about the user's data.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


DEVICE_ENV = "HUBINDEX_DEVICE"  # e.g. cpu, cuda, cuda:1; default: the first CUDA device when there is one
DTYPE_ENV = "HUBINDEX_PROBE_DTYPE"  # float32 (default) | bfloat16 | float16: the dtype models run in on CUDA
GPU_BATCH = 64  # probes per forward pass on CUDA: a whole probe set in one or two passes


def device() -> torch.device:
    chosen = os.environ.get(DEVICE_ENV)
    if chosen:
        try:
            picked = torch.device(chosen)
        except RuntimeError:
            raise CheckpointError(f"{DEVICE_ENV}={chosen!r} is not a torch device (cpu, cuda, cuda:1, ...)") from None
        if picked.type == "cuda" and not torch.cuda.is_available():
            raise CheckpointError(f"{DEVICE_ENV}={chosen!r} but torch sees no CUDA device")
        return picked
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run_dtype() -> torch.dtype:
    """fp32 unless asked otherwise, and always on the CPU: a finetune's shift can be smaller than bf16's rounding
    of the hidden states, so half precision is an opt-in for speed on GPUs, read out in fp32 either way."""
    name = os.environ.get(DTYPE_ENV, "float32")
    if name not in ("float32", "bfloat16", "float16"):
        raise CheckpointError(f"{DTYPE_ENV}={name!r}: choose float32, bfloat16 or float16")
    return getattr(torch, name) if device().type == "cuda" else torch.float32


def batch_size_for(method_batch: int) -> int:
    """A recipe's batch on the CPU; on CUDA larger batches (padding never changes the features, tested), except a
    recipe that runs each probe alone (the paper's, batch 1)."""
    return method_batch if device().type != "cuda" or method_batch == 1 else max(method_batch, GPU_BATCH)


@dataclass
class ProbeModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase


def _tokenizer(*folders: Path) -> PreTrainedTokenizerBase:
    for folder in folders:
        if ModelFolder.tokenizer_files_in(folder):
            try:
                return AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
            except (OSError, ValueError, KeyError) as exc:
                raise CheckpointError(f"{folder}: tokenizer does not load ({exc})") from None
    raise CheckpointError(f"{folders[0]}: no tokenizer files (tokenizer.json): Delta Activations need one")


def load_probe_model(folder: Path, base: Path | None = None, tokenizer_from: Path | None = None) -> ProbeModel:
    """A full model, or an adapter applied in memory on `base` with peft (nothing merged to disk). fp32, eval.

    Which tokenizer reads the probes: `tokenizer_from` when given, else the model's own (an adapter's own, else its
    base's). The indexer passes the family base's folder, as the official Delta Activations code does (it tokenizes
    every model's probes with the base's tokenizer): then every model of a family reads the same token ids, so a
    vocabulary-extended finetune (new tokens appended after the base's) is compared on the same input as its base,
    and its shift measures changed weights, not a changed segmentation of the probes. A tokenizer whose ids do not
    fit the model's embedding table is refused: that model does not share the base's vocabulary.
    """
    checked = ModelFolder.open(folder)  # also refuses FIFOs, devices and links out of the folder before loading
    if checked.quantization:
        raise CheckpointError(f"{folder}: quantized checkpoint ({checked.quantization}): not loaded for probes")
    try:
        if checked.kind == "adapter":
            if base is None:
                raise CheckpointError(f"{folder}: adapter without a known base model")
            ModelFolder.open(base)
            from peft import PeftModel

            model = PeftModel.from_pretrained(_load_full(base), folder, is_trainable=False)
            tokenizer = _tokenizer(tokenizer_from) if tokenizer_from else _tokenizer(folder, base)
        else:
            model = _load_full(folder)
            tokenizer = _tokenizer(tokenizer_from or folder)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{folder}: cannot load for probing ({exc})") from None
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise CheckpointError(f"{folder}: the tokenizer of {tokenizer_from or folder} has {len(tokenizer)} tokens, "
                              f"the model embeds {rows}: not the same vocabulary")
    model.to(device()).eval()  # an adapter's own weights join the base on its device
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return ProbeModel(model, tokenizer)


def _load_full(folder: Path) -> PreTrainedModel:
    # Weights go straight from the safetensors files to the device (no full copy in CPU memory first).
    return AutoModelForCausalLM.from_pretrained(folder, dtype=run_dtype(), local_files_only=True,
                                                use_safetensors=True, trust_remote_code=False,
                                                device_map={"": device()})


def _one_logit(model: PreTrainedModel) -> dict:
    """Skip the model's vocabulary projection for all but one position when supported: _token_nll projects the final
    hidden states row by row instead (less memory), checked against that one position."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(inner.forward).parameters else {}


@torch.inference_mode()
def probe_features(probe: ProbeModel, prompts: tuple[str, ...], batch_size: int = 16) -> dict[str, torch.Tensor]:
    """Per prompt and per layer (embeddings output first): last-token and mean-pooled hidden states.
    `batch_size`: the recipe's (batch_size_for: larger on CUDA unless the recipe runs probes one at a time).

    Returns {"last": [prompts, layers+1, hidden], "mean": [...], "nll": [prompts]} in fp32 on the CPU, in the order of
    `prompts` ("nll": mean next-token negative log-likelihood of each prompt's own tokens). Prompts are batched by
    token length (less padding to compute); the order is restored at the end.
    """
    last, mean, nll = [], [], []
    batch_size = batch_size_for(batch_size)
    tokenizer = probe.tokenizer
    tokenizer.padding_side = "right"
    target = next(probe.model.parameters()).device
    lengths = [len(ids) for ids in tokenizer(list(prompts), truncation=True, max_length=MAX_TOKENS)["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer([prompts[i] for i in order[start : start + batch_size]], return_tensors="pt",
                          padding=True, truncation=True, max_length=MAX_TOKENS)
        batch = {k: v.to(target, non_blocking=True) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        out = probe.model(**batch, output_hidden_states=True, use_cache=False, **_one_logit(probe.model))
        states = torch.stack(out.hidden_states, dim=1).float()  # [batch, layers+1, tokens, hidden]
        mask = batch["attention_mask"].to(states.dtype)
        lengths = mask.sum(dim=1).long()
        rows = torch.arange(states.shape[0], device=states.device)
        last.append(states[rows, :, lengths - 1].cpu())
        weights = (mask / mask.sum(dim=1, keepdim=True))[:, None, :, None]
        mean.append((states * weights).sum(dim=2).cpu())
        nll.append(_token_nll(probe.model, batch, out))
    restore = torch.empty(len(order), dtype=torch.long)
    restore[torch.tensor(order)] = torch.arange(len(order))
    return {"last": torch.cat(last)[restore], "mean": torch.cat(mean)[restore], "nll": torch.cat(nll)[restore]}


def _token_nll(model: PreTrainedModel, batch: dict, out) -> torch.Tensor:
    """Mean next-token NLL of each row's real tokens, in fp32. The logits of every position come from the final
    hidden states through the output head, one row at a time (a [tokens, vocab] block, never [batch, tokens,
    vocab]); the head is checked against the logits the model returned for the last position, and a model whose
    head is more than that projection (logit scaling or capping) gets its full logits from a second pass."""
    head = model.get_output_embeddings()
    final = out.hidden_states[-1]
    if head is None or not torch.allclose(head(final[:, -1]).float(), out.logits[:, -1].float(), rtol=1e-3,
                                          atol=1e-3):
        full = model(**batch, use_cache=False).logits
        rows = [full[row] for row in range(len(full))]
    else:
        rows = [head(final[row]) for row in range(len(final))]
    losses = []
    for row, logits in enumerate(rows):
        real = int(batch["attention_mask"][row].sum())
        targets = batch["input_ids"][row, 1:real]
        losses.append(torch.nn.functional.cross_entropy(logits[: real - 1].float(), targets) if real > 1
                      else torch.zeros((), device=logits.device))
    return torch.stack(losses).cpu()
