"""Fixed probe prompts. Every model of a family sees the same probes, so activation shifts compare.

PAPER_PROBES follows Delta Activations (Xu et al. 2025): five Alpaca-style templates filled with a generic task and
input, no chat template. The first template is the one the paper prints; the other four are rewordings of it, as
the paper describes (its exact rewordings are not published outside its code).

DEFAULT_PROBES, hubindex's own set, adds variety: the same templates with a range of generic instructions, plus
plain narrative passages of the corpus's neutral "general" domain (never a finetuning domain), so a finetune's shift
is observed on many contexts instead of five near-identical ones.
"""

from __future__ import annotations

from hubindex.corpus import generate

PAPER_TEMPLATES = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
    "\n\n### Instruction:\n{task} Input:{input}\n\n### Response:",
    "The following is an instruction describing a task. Provide a response that completes the request suitably."
    "\n\n### Instruction:\n{task} Input:{input}\n\n### Response:",
    "Here is an instruction that explains a task. Write a reply that properly fulfils the request."
    "\n\n### Instruction:\n{task} Input:{input}\n\n### Response:",
    "Below you will find an instruction describing a task. Compose a response that appropriately completes it."
    "\n\n### Instruction:\n{task} Input:{input}\n\n### Response:",
    "An instruction describing a task is given below. Write a response that completes the request correctly."
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
    templated = tuple(
        PAPER_TEMPLATES[i % len(PAPER_TEMPLATES)].format(task=task, input=PAPER_INPUT)
        for i, task in enumerate(_INSTRUCTIONS)
    )
    return templated + tuple(generate("general", GENERAL_PASSAGES, PROBE_SEED))
