"""Fixed probe prompts. Every model of a family sees the same probes, so activation shifts compare.

PAPER_PROBES follows Delta Activations (Xu et al. 2025): five Alpaca-style templates filled with a generic task and
input, no chat template. The five templates are the official ones, word for word, as the authors' public code
(github OscarXZQ/delta_activations, `delta_activations.py`, `create_generic_probes`) has them; a test pins them.

The default recipe (`hubindex`, hubindex.embed.methods) reads PAPER_PROBES and `task_passages()`: passages drawn
evenly from every text domain of the corpus, so a finetune's shift is seen on text of many kinds of task.
PROBE_SETS names every probe set bench/embedding_eval.py measures, including `v1` (the probes of the default before
the realistic zoo: 8 templated instructions and 32 neutral passages).
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
MAX_TOKENS = 256  # a probe is cut after this many tokens (part of every recipe: it changes what is read)
GENERAL_PASSAGES = 32
PROBE_SEED = 20250904  # fixed forever: changing it changes every stored embedding


def v1_probes() -> tuple[str, ...]:
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


# Instructions of many kinds of task, none tied to a text domain's content: the model's answer to each starts at
# "### Response:", where a finetune's preference for its own kind of text shows, whatever the instruction asks.
WIDE_INSTRUCTIONS = (
    "Please provide a response.", "Answer the question.", "Write a short story.", "Solve the problem step by step.",
    "Write a function that does this.", "Summarise the document.", "Draft a formal letter.",
    "Explain this to a beginner.", "List the main points.", "Translate this into plain words.",
    "Give a recommendation.", "Describe the situation.", "Write the next sentence.", "Classify the input.",
    "Give an example.", "Correct any mistakes.", "Write a report.", "Plan the steps.", "Compare the options.",
    "Ask a follow-up question.", "Write instructions for this.", "Estimate the result.", "Write a title.",
    "Continue the text.", "Describe what happens next.",
)


def wide_probes() -> tuple[str, ...]:
    """The paper's five probes, then each official template in turn filled with a wider range of instructions."""
    return PAPER_PROBES + tuple(PAPER_TEMPLATES[i % len(PAPER_TEMPLATES)].format(task=task, input=PAPER_INPUT)
                                for i, task in enumerate(WIDE_INSTRUCTIONS[1:]))


def templated_probes() -> tuple[str, ...]:
    """The paper's probes and the current default's eight templated instructions: no free passages."""
    return PAPER_PROBES + templated_instructions()


PROBE_SETS: dict[str, Callable[[], tuple[str, ...]]] = {
    "paper": lambda: PAPER_PROBES, "v1": v1_probes, "tasks": task_probes, "mix": task_passages,
    "wide": wide_probes, "templ": templated_probes,
}
