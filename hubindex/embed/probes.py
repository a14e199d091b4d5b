"""Fixed probe prompts. Every model of a family sees the same probes, so activation shifts compare.

PAPER_PROBES follows Delta Activations (Xu et al. 2025): five Alpaca-style templates filled with a generic task and
input, no chat template. The five templates are the official ones, word for word, as the authors' public code
(github OscarXZQ/delta_activations, `delta_activations.py`, `create_generic_probes`) has them; a test pins them.

DEFAULT_PROBES, hubindex's own set, adds variety: the same templates with a range of generic instructions, plus
plain narrative passages of the corpus's neutral "general" domain (never a finetuning domain), so a finetune's shift
is observed on many contexts instead of five near-identical ones.
"""

from __future__ import annotations

from collections.abc import Callable

from hubindex.corpus import generate, pretraining_mix

PAPER_TEMPLATES = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
    "\n\n### Instruction:\n{task} Input:{input}\n\n### Response:",
    "The task described below requires a response that completes the request accurately."
    "\n\n### Instruction:\n{task} Input:{input}\n\n### Response:",
    "Below is a description of a task. Provide a response that aligns with the requirements."
    "\n\n### Instruction:\n{task} Input:{input}\n\n### Response:",
    "The following instruction outlines a task. Generate a response that meets the specified request."
    "\n\n### Instruction:\n{task} Input:{input}\n\n### Response:",
    "You are given an instruction and input. Write a response that completes the task as requested."
    "\n\n### Instruction:\n{task} Input:{input}\n\n### Response:",
)
PAPER_TASK = "Please provide a response."
PAPER_INPUT = "Input."
PAPER_PROBES = tuple(t.format(task=PAPER_TASK, input=PAPER_INPUT) for t in PAPER_TEMPLATES)

_INSTRUCTIONS = (
    "Please provide a response.", "Continue the text.", "Summarise the following.", "Explain this in detail.",
    "Write the next part.", "Answer the question.", "Describe what happens next.", "Give an example.",
)
GENERAL_PASSAGES = 32
PROBE_SEED = 20250904  # fixed forever: changing it changes every stored embedding


def default_probes() -> tuple[str, ...]:
    return templated_instructions() + tuple(generate("general", GENERAL_PASSAGES, PROBE_SEED))


TASK_PASSAGES = 40


def templated_instructions() -> tuple[str, ...]:
    return tuple(PAPER_TEMPLATES[i % len(PAPER_TEMPLATES)].format(task=task, input=PAPER_INPUT)
                 for i, task in enumerate(_INSTRUCTIONS))


def task_passages() -> tuple[str, ...]:
    """Passages drawn evenly from every text domain of the corpus and the neutral one: probes that cover many tasks.
    Drawn from the pretraining-mix stream, never from the finetuning streams (`generate`), with the fixed seed."""
    return tuple(pretraining_mix(TASK_PASSAGES, PROBE_SEED))


def task_probes() -> tuple[str, ...]:
    return templated_instructions() + task_passages()


PROBE_SETS: dict[str, Callable[[], tuple[str, ...]]] = {
    "paper": lambda: PAPER_PROBES, "hubindex": default_probes, "tasks": task_probes, "mix": task_passages,
}
