"""The base model an adapter was trained on, from the weights.

Any full model whose targeted tensors have the adapter's shapes can be the base: a family root, a finetune, a
vocabulary-extended model, a look-alike family's root. Which one is decided by where the adapter's delta points:
an adapter trained on model C continues C's training, so its delta B·A runs along the way C's own continuations
moved from C (its finetunes for a root, its children for a finetune). A candidate's score is the best cosine
between the delta and (K - C) over the members K of C's family that lie further from the root than C and beyond
it (a weight-only stand-in for C's descendants: the lineage is computed after bases). The catalog's weight
samples give every term, so no probe runs for this.

Measured on realistic design seed 101 (small, stripped): the true base scores highest for 11 of 13 adapters (all 9
on roots, including 4 whose look-alike root shares their layout: the wrong family scores < 0.1 against > 0.26; 2 of
4 on finetunes, against 0 of 4 for the earlier roots-only rule). A base with no member further along cannot be
told from the root, and neither can one whose delta aligns with nothing (best score < MIN_SCORE): then the fitting
roots go to the caller, which breaks ties by probe loss as before.

A declared base that fits is kept unless the weights clearly point elsewhere (a wrong card): its score within
DECLARED_SLACK of the best.

The weights give a shortlist, not the answer, when probes can run (`gradient_alignment`, a BasesJob on a worker):
LoRA training starts at B = 0 on the base, so its first steps move B along -dL/dB = -(dL/dW) A^T taken at the base
on the adapter's own kind of text, and B keeps most of that direction. The candidate whose gradient, projected on
the adapter's A, aligns best with the adapter's B is the base. The text: the task passages (hubindex.embed.probes)
on which the adapter lowers the loss most, i.e. its domain's. Measured on realistic design seed 102 (oracle domain
text): the true base ranks first or tied with its own re-save for 3 of 4 adapters on finetunes, which the weights'
continuation score put on the root, the chain parent or the continued-pretraining model. Re-saves (dtype copies,
int8 round trips) hold the same weights and score the same: the original (higher precision, off any grid) stands
for them. The passages are one domain's share of the pool (TOP_PASSAGES): more mixes in other kinds of text, on
which every model of the family pulls B the same way. The shortlist leaves out models created after the adapter,
and takes members whose offset the delta runs against as well as along. Design seeds 105-107 (real clock, summed):
adapters on finetunes 5/12 -> 10/12, adapters on roots 25/27 -> 27/27 (see TOP_PASSAGES, shortlisted,
uploaded_after). The gradient overrules the weights' choice only when it wins with each of the passages left out
in turn (`by_alignment`): with 3 passages, a margin one passage makes is noise. With the shortlist's fill
(`shortlisted`), design seeds 105-110, real clock, replayed offline: adapters on roots 53/54 -> 54/54, on
finetunes 19/24 -> 20/24 (108-110 with reset times: roots 25/27 -> 27/27). Misses: adapters that
barely change the loss (gains ~0.02 on their best passages), whose alignments are all ~0.04 and say nothing, and an
adapter on a chain member whose parent, on the same text, aligns better.

Per candidate the stage also measures the alignment with B after a few simulated Adam steps (`simulated_b`), and
the first step's alignment on the candidate's own passages (those where the adapter, applied on that candidate,
lowers the loss most): the shared passages are chosen on the weights' choice, and where that is the root of an
adapter trained on a finetune they may not be the adapter's kind of text at all (design seed 122, a code adapter on
a code finetune: the finetune aligned -0.013 on the root's passages, 0.070 on its own, the code passages). It
stores everything it measured per candidate (`hubindex.lineage.adapter_choice`, table adapter_base_facts); the
decision among the candidates is taken there, from the stored facts, again at every lineage update.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hubindex.catalog import Catalog
from hubindex.corpus import GENERATORS
from hubindex.embed.probes import TASK_PASSAGES
from hubindex.fingerprint.sampling import tensor_sample
from hubindex.fingerprint.signature import split_samples
from hubindex.indexer.assignment import Assignment
from hubindex.lineage.evidence import COPY_MAX, resave_kind, resave_of

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    import torch

MIN_SCORE = 0.15  # best cosine below this: the delta points along no member's continuation (wrong family ~0.02-0.1)
DECLARED_SLACK = 0.1  # a declared base scoring this much below the best is overruled by the weights
SHORTLIST = 6  # candidates taken from each weight ranking (continuation score, alignment with own offset)
# Passages the gradient is taken on: the fewest any one text domain has among the task passages (40 drawn evenly
# over 11 corpus generators: 3 or 4 each), so that they are all the adapter's own kind of text. The loss gains of
# the adapter show that share (a gap after 3-4 passages) and 6 mixed in 2-3 passages of other kinds: measured on
# design seeds 105-106 (real clock), 6 put the true base first for 4 of 8 adapters on finetunes and 16 of 18 on
# roots, 3 for 6 of 8 and 18 of 18 (2: 6 and 18, 4: 5 and 18, 12: 2 and 18).
TOP_PASSAGES = TASK_PASSAGES // len(GENERATORS)
# Simulated LoRA steps (`simulated_b`): a handful, so that Adam's normalisation has shaped B (its first step is the
# gradient's sign) while B stays near 0 (the base's own gradient still leads); at a LoRA learning rate of the usual
# range (hub adapters: 1e-4 to 5e-3; the realistic zoo's: 5e-3).
SIMULATED_STEPS = 5
SIMULATED_LR = 5e-3


def continuation_scores(delta: np.ndarray, members: np.ndarray, root: int) -> np.ndarray:
    """For each member C of one family (rows of `members`, `root` its root's row): the best cosine between the
    adapter's delta and K - C over members K further from the root than C and beyond C (K - C not pointing back
    towards the root). -1 where C has no such K. From the Gram matrix: memory grows with members squared, not
    times the sample count."""
    offsets = members - members[root]  # Y: positions relative to the root
    gram = offsets @ offsets.T
    reach2 = np.diag(gram)
    lengths = np.sqrt(np.maximum(reach2[None, :] + reach2[:, None] - 2 * gram, 0.0))  # [C, K]: |K - C|
    along = offsets @ delta
    beyond = (reach2[None, :] > reach2[:, None]) & (gram - reach2[:, None] >= 0) & (lengths > 0)
    cosine = (along[None, :] - along[:, None]) / (lengths * np.linalg.norm(delta) + 1e-12)
    return np.where(beyond, cosine, -1.0).max(axis=1, initial=-1.0)


def offset_cosines(delta: np.ndarray, members: np.ndarray, root: int) -> np.ndarray:
    """Cosine between the adapter's delta and each member's own offset from the root (0 for the root): an adapter
    trained on a finetune on its domain keeps moving along that finetune's offset."""
    offsets = members - members[root]
    norms = np.linalg.norm(offsets, axis=1) * np.linalg.norm(delta)
    return np.where(norms > 0, offsets @ delta / np.maximum(norms, 1e-30), 0.0)


def shortlisted(scores: dict[str, float], toward: dict[str, float]) -> list[str]:
    """The SHORTLIST best by continuation score, then the SHORTLIST others with the largest offset cosine in
    absolute value: an adapter trained on a finetune moves along that finetune's offset from the root, or against
    it when its text is not the finetune's (it takes back part of the finetune's move). Measured on design seeds
    105-107 (real clock): the signed cosine ranked the base of 2 of 12 adapters on finetunes (on chain members,
    other domains) 66th-67th of 67 fitting models, the absolute one 2nd-5th for all 12. The second ranking adds
    members the first does not hold (each ranking brings its own SHORTLIST): counted together, the 1-4 members both
    rankings put first took places of the second, and on design seed 108 the base of an adapter on a chain member
    (7th by |offset cosine|) was left out."""
    first = sorted(scores, key=lambda m: (-scores[m], m))[:SHORTLIST]
    others = [m for m in sorted(toward, key=lambda m: (-abs(toward[m]), m)) if m not in first]
    return [*first, *others[:SHORTLIST]]


class _Weights:
    """Per-indexing-run cache of full models' layouts and target-tensor samples (each read once)."""

    def __init__(self, catalog: Catalog, found: dict[str, Assignment]):
        self.catalog, self.found = catalog, found
        self.shapes = {m: _shapes(catalog, m) for m in found}
        self._vectors: dict[tuple[str, tuple[str, ...]], np.ndarray | None] = {}

    def fitting(self, adapter_shapes: dict) -> list[str]:
        return [m for m, shapes in self.shapes.items()
                if all(shapes.get(name) == shape for name, shape in adapter_shapes.items())]

    def scaled(self, model_id: str, names: tuple[str, ...]) -> np.ndarray | None:
        key = (model_id, names)
        if key not in self._vectors:
            self._vectors[key] = _scaled(self.catalog, model_id, names)
        return self._vectors[key]

    def scores(self, delta: np.ndarray, names: tuple[str, ...], fitting: list[str]
               ) -> tuple[dict[str, float], dict[str, float]]:
        """Continuation scores and offset cosines of the fitting models, family by family (a family whose root does
        not fit is left out: its members are no continuations of anything here)."""
        families: dict[str, list[str]] = {}
        for model_id in fitting:
            families.setdefault(self.found[model_id].family or model_id, []).append(model_id)
        out: dict[str, float] = {}
        toward: dict[str, float] = {}
        for root, members in families.items():
            if root not in members:
                continue
            members = [root, *(m for m in members if m != root)]
            kept = [(m, v) for m in members if (v := self.scaled(m, names)) is not None]
            if not kept or kept[0][0] != root:
                continue
            stacked = np.stack([v for _, v in kept])
            scores = continuation_scores(delta, stacked, 0)
            out.update({m: float(s) for (m, _), s in zip(kept, scores, strict=True)})
            toward.update({m: float(s) for (m, _), s in zip(kept, offset_cosines(delta, stacked, 0), strict=True)})
        return out, toward

    def shortlist(self, scores: dict[str, float], toward: dict[str, float], names: tuple[str, ...]) -> tuple[str, ...]:
        """`shortlisted` with re-saves replaced by their originals."""
        return tuple(dict.fromkeys(self.original(m, list(scores), names) for m in shortlisted(scores, toward)))

    def original(self, model_id: str, among: list[str], names: tuple[str, ...]) -> str:
        """The model `model_id` is a re-save of among `among` (a dtype copy or a quantize-dequantize round trip
        of it: same weights within COPY_MAX), else itself. The original: higher precision, else off a grid, else
        created first (`evidence.resave_of`, as lineage.resaves orders re-saves)."""
        row = self.catalog.require(model_id)
        mine = self._vectors.get((model_id, names))
        if mine is None:
            return model_id
        for other in among:
            theirs = self._vectors.get((other, names))
            if other == model_id or theirs is None:
                continue
            if np.linalg.norm(mine - theirs) >= COPY_MAX * max(np.linalg.norm(mine), np.linalg.norm(theirs)):
                continue
            them = self.catalog.require(other)
            if (is_copy := resave_of(row["dtype"], them["dtype"], mine, theirs)) is None:
                is_copy = (row["created_at"], model_id) > (them["created_at"], other) \
                    if row["created_at"] and them["created_at"] else model_id > other
            if is_copy and resave_kind(mine, theirs) is not None:
                return other
        return model_id


def _shapes(catalog: Catalog, model_id: str) -> dict[str, tuple]:
    return {r["name"]: tuple(r["shape"]) for r in catalog.tensor_stats(model_id)}


def _scaled(catalog: Catalog, model_id: str, names: tuple[str, ...]) -> np.ndarray | None:
    """A model's scaled samples of the named tensors (those an adapter targets), in name order."""
    sig = catalog.signature(model_id)
    if sig is None:
        return None
    shapes = {n: tuple(s) for n, s in sig["shapes"].items()}
    segments = split_samples(np.asarray(sig["samples"]), shapes)
    return np.concatenate([segments[n].astype(np.float64) * tensor_sample(n, shapes[n]).scale for n in names])


def assign_all(catalog: Catalog, adapters: list[dict], roots: list[dict],
               found: dict[str, Assignment]) -> dict[str, Assignment]:
    """Bases of `adapters` among the full models of `found` (their families as assigned)."""
    weights = _Weights(catalog, found)
    return {row["id"]: _assign(catalog, weights, row, roots) for row in adapters}


def _assign(catalog: Catalog, weights: _Weights, row: dict, roots: list[dict]) -> Assignment:
    shapes = _shapes(catalog, row["id"])
    names = tuple(sorted(shapes))
    fitting = weights.fitting(shapes)
    delta = _scaled(catalog, row["id"], names)
    scores, toward = weights.scores(delta, names, fitting) if delta is not None and names else ({}, {})
    later = {m for m in scores if uploaded_after(catalog.require(m)["created_at"], row["created_at"])}
    scores = {m: s for m, s in scores.items() if m not in later}
    toward = {m: s for m, s in toward.items() if m not in later}
    best = max(scores, key=lambda m: (scores[m], m), default=None)
    found = weights.found
    weak = best is None or scores[best] < MIN_SCORE
    for declared in (row["adapter_base"], *(row["declared_base"] or [])):
        if declared in fitting and (weak or scores.get(declared, -1.0) >= scores[best] - DECLARED_SLACK):
            return Assignment(found[declared].family or declared, declared, "declared")
    shortlist = weights.shortlist(scores, toward, names)
    fitting_roots = tuple(r["id"] for r in roots if r["id"] in fitting)
    measured = {m: (scores[m], toward[m]) for m in shortlist if m in scores and m in toward}
    if not weak:
        best = weights.original(best, list(scores), names)
        return Assignment(found[best].family or best, best, "weights", shortlist if len(shortlist) > 1 else (),
                          scores=measured)
    if len(fitting_roots) == 1:
        return Assignment(fitting_roots[0], fitting_roots[0], "weights")
    return Assignment(None, None, None, tuple(dict.fromkeys((*fitting_roots, *shortlist))), scores=measured)


def uploaded_after(created: datetime | None, adapter_created: datetime | None) -> bool:
    """A model created after the adapter cannot be the model it was trained on. Times only exclude when both are
    known and differ: the Hub's createdAt floor and a copy's one mtime tie, and ties exclude nothing. Measured on
    design seeds 105-107: the child of a chain member (created after the adapter) aligned 3 % better than the
    member, the adapter's base. No adapter of seeds 102-107 (real or floor clock) predates its base."""
    return created is not None and adapter_created is not None and created > adapter_created


def gradient_alignment(adapter: Path, candidates: dict[str, Path], select_on: str) -> dict[str, list[float]]:
    """Per candidate base: cosine between the adapter's B and -dL/dB at B = 0 on that candidate (its first LoRA
    step there), on the TOP_PASSAGES task passages where the adapter, applied on `select_on`, lowers the loss most:
    first on all of them, then with each one left out in turn (`by_alignment`'s held-out subsets; the step is the
    sum of per-passage steps, so the subsets cost no more passes), then the cosine with B after a few simulated
    Adam steps on the same passages (`simulated_b`), last the first step's alignment on the candidate's own
    passages, all then each left out (`own_passages`). `measured` splits the list. Candidates that do not load are
    left out."""
    import torch

    from hubindex.embed.activations import load_probe_model
    from hubindex.embed.probes import task_passages

    def losses(probe, texts: tuple[str, ...]) -> torch.Tensor:
        batch = probe.tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=256)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        device = next(probe.model.parameters()).device
        ids, mask = ids.to(device), mask.to(device)
        logits = probe.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        tokens = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        weight = mask[:, 1:].float()
        return (tokens * weight).sum(1) / weight.sum(1).clamp_min(1)

    passages = task_passages()
    selecting = load_probe_model(adapter, candidates[select_on])
    with torch.no_grad():
        with_adapter = losses(selecting, passages)
        with selecting.model.disable_adapter():
            gain = losses(selecting, passages) - with_adapter
    texts = tuple(passages[i] for i in torch.argsort(gain, descending=True)[:TOP_PASSAGES].tolist())
    out = {}
    for candidate, folder in candidates.items():
        if candidate == select_on:
            probe = selecting  # already loaded, and its adapter left as trained
        else:
            try:
                probe = load_probe_model(adapter, folder)
            except Exception:  # a candidate that does not load (for whatever reason) is not the base
                continue
        if candidate == select_on:
            own = texts
        else:
            with torch.no_grad():
                with_adapter = losses(probe, passages)
                with probe.model.disable_adapter():
                    mine = losses(probe, passages) - with_adapter
            own = tuple(passages[i] for i in torch.argsort(mine, descending=True)[:TOP_PASSAGES].tolist())
        lora_b = {name: p for name, p in probe.model.named_parameters() if ".lora_B." in name}
        trained = torch.cat([p.detach().flatten().double() for p in lora_b.values()])
        for p in probe.model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            for p in lora_b.values():
                p.zero_()
                p.requires_grad_(True)
        step_of: dict[str, torch.Tensor] = {}
        for text in dict.fromkeys((*texts, *own)):  # one pass per passage: the subsets are sums of these
            grads = torch.autograd.grad(losses(probe, (text,)).sum(), list(lora_b.values()))
            step_of[text] = -torch.cat([g.flatten().double() for g in grads])
        out[candidate] = [*_subset_alignments([step_of[t] for t in texts], trained),
                          _cosine(simulated_b(lora_b, lambda on=probe: losses(on, texts).mean()), trained),
                          *_subset_alignments([step_of[t] for t in own], trained)]
    return out


def _subset_alignments(steps: list, trained) -> list[float]:
    """Alignment of the summed steps with the trained B, then with each step left out in turn."""
    import torch

    total = torch.stack(steps).sum(0)
    return [_cosine(total, trained), *(_cosine(total - step, trained) for step in steps)]


def measured(values: list[float]) -> tuple[float, list[float], float, list[float]]:
    """`gradient_alignment`'s list per candidate as (alignment, held_out, simulated, own passages: all, then each
    left out)."""
    half = (len(values) - 1) // 2
    return values[0], values[1:half], values[half], values[half + 1:]


def simulated_b(lora_b: dict, loss) -> torch.Tensor:
    """B after SIMULATED_STEPS Adam steps from B = 0 (the adapter's own A kept) on `loss`: adapters are trained
    with Adam, whose per-coordinate normalisation turns the gradient's direction (towards its sign, for the first
    step) and keeps turning it as B grows; the trained B follows that path, not the raw gradient."""
    import torch

    with torch.no_grad():
        for p in lora_b.values():
            p.zero_()
    optimizer = torch.optim.Adam(list(lora_b.values()), lr=SIMULATED_LR)
    for _ in range(SIMULATED_STEPS):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    return torch.cat([p.detach().flatten().double() for p in lora_b.values()])


def _cosine(step, trained) -> float:
    return float(step @ trained / (step.norm() * trained.norm()).clamp_min(1e-30))
