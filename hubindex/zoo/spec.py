"""The zoo's plan: which models to make, from what, with which settings. Deterministic for (seed, size, domains).

Per family: a pretrained base; two full finetunes per domain (different seeds, learning rates, steps); a LoRA
adapter per domain and LoRA-merged checkpoints for some; finetunes of finetunes (chains, one three deep); merges of
2-3 finetunes; a bf16 re-save and an 8-bit quantized re-save. Some checkpoints are written sharded.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from hubindex import corpus
from hubindex.errors import HubindexError
from hubindex.train.architectures import get_size

# (family name, architecture). Two bases share the llama architecture: lineage must tell them apart by weights.
FAMILIES = (("lm", "llama"), ("gpt", "gpt2"), ("lx", "llama"))
FAMILIES_BY_SIZE = {"tiny": 2, "small": 3, "medium": 3}
BASE_ORG = "hubindex-labs"
ORGS = ("acme-ai", "northwind", "opencraft", "tinyml", "quill-labs", "deltaworks", "sparrow", "bluefin")
DEFAULT_DOMAIN_COUNT = 6
LORA_MERGED_RANK = 8  # every lora_merged finetune: its delta from the parent has at most this rank
PROFILES = ("reference", "realistic")

# Which phenomenon each model of a zoo is (truth.json `kind`): the one closed vocabulary, defined here only.
KINDS: dict[str, str] = {
    "base": "pretrained root",
    "lookalike_base": "pretrained root with the same config as another family's, other init and pretraining mix",
    "finetune": "full finetune with the reference recipe (AdamW, cosine, clip 1)",
    "sweep": "one of 4+ sibling runs on one domain from one parent (lr and seed vary), uploaded hours apart",
    "chain": "member of a same-domain chain of finetunes (each trained from the previous one)",
    "adamw_wd": "AdamW with weight decay 0.1, linear decay to 0, clip 0.5",
    "sgd": "SGD with momentum 0.9, constant lr, no clipping",
    "short_run": "a 5-10 step touch-up finetune",
    "long_run": "a finetune of several hundred steps",
    "continued_pretrain": "a base trained further on a new pretraining mix",
    "on_continued": "a finetune of a continued-pretrained model",
    "vocab_extended": "finetune with added chat tokens: resized embeddings, tokenizer saved with them",
    "lora": "PEFT LoRA adapter on a base (ranks and target modules vary)",
    "adapter_on_finetune": "PEFT LoRA adapter trained on a finetune",
    "lora_merged": "LoRA finetune merged back into full weights",
    "merge": "merge of finetunes saved in fp32",
    "merge_bf16": "merge (task arithmetic, linear, TIES or SLERP) saved in bf16",
    "finetune_bf16": "full finetune saved in bf16",
    "child_of_bf16": "finetune trained from its parent's saved bf16 weights",
    "copy_bf16": "the parent re-saved in bf16",
    "copy_fp16": "the parent re-saved in fp16",
    "reshard": "the parent re-saved in fp32 with other shards",
    "int8": "the parent quantized to 8 bits per row and dequantized (fp16)",
}


@dataclass
class ModelSpec:
    id: str
    family: str
    arch: str
    relation: str  # root | finetune | adapter | merge | copy | quantized
    method: str  # pretrain | full | lora | lora_merged | <merge method> | bf16 | int8
    parents: list[str] = field(default_factory=list)
    domain: str | None = None
    params: dict = field(default_factory=dict)
    sharded: bool = False
    created_at: str = ""
    kind: str = ""  # one of KINDS; a label, not part of the digest

    def __post_init__(self) -> None:
        if self.kind and self.kind not in KINDS:
            raise HubindexError(f"unknown zoo kind {self.kind!r}")

    def digest(self) -> str:
        """Changes when anything that shapes this model's weights changes: the builder re-makes it then."""
        fields = {k: v for k, v in asdict(self).items() if k != "kind"}
        return hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:16]


class _Namer:
    """Telling names (`org/lm-math-ft1`) or opaque ones (`org/model-3fa2c1`) for --strip-metadata zoos."""

    def __init__(self, seed: int, opaque: bool) -> None:
        # Its own stream: naming must not shift the plan's draws, so a stripped zoo has the same weights.
        self.rng, self.seed, self.opaque = random.Random(f"names:{seed}"), seed, opaque

    def __call__(self, label: str, org: str | None = None) -> str:
        org = self.rng.choice(ORGS) if (self.opaque or org is None) else org
        if self.opaque:
            return f"{org}/model-{hashlib.sha256(f'{self.seed}:{label}'.encode()).hexdigest()[:8]}"
        return f"{org}/{label}"


def plan_zoo(seed: int, size: str = "tiny", domains: list[str] | None = None, opaque_names: bool = False,
             families: int | None = None, profile: str = "reference") -> list[ModelSpec]:
    """The ordered build plan (parents before children)."""
    if profile not in PROFILES:
        raise HubindexError(f"unknown zoo profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if profile == "realistic":
        from hubindex.zoo.realistic import plan_realistic

        if domains or families:
            raise HubindexError("the realistic profile fixes its families and domains")
        return plan_realistic(seed, size, _Namer(seed, opaque_names))
    spec = get_size(size)
    known = corpus.domain_names()
    domains = list(domains) if domains else known[:DEFAULT_DOMAIN_COUNT]
    unknown = [d for d in domains if d not in known]
    if unknown or len(domains) < 2:
        raise HubindexError(f"zoo domains must be >= 2 of {', '.join(known)}; got {domains}")
    rng = random.Random(seed)
    name = _Namer(seed, opaque_names)
    plan: list[ModelSpec] = []
    for index, (family, arch) in enumerate(FAMILIES[: families or FAMILIES_BY_SIZE[size]]):
        plan.extend(_family(rng, name, family, arch, seed * 1000 + index, spec.finetune_steps, domains))
    _stamp_times(plan, seed)
    for model in plan:
        model.kind = _reference_kind(model, plan)
    return plan


def _reference_kind(model: ModelSpec, plan: list[ModelSpec]) -> str:
    relation_of = {m.id: m.relation for m in plan}
    if model.relation == "root":
        return "base"
    if model.method == "full":
        return "finetune" if relation_of[model.parents[0]] == "root" else "chain"
    return {"bf16": "copy_bf16", "int8": "int8", "lora": "lora", "lora_merged": "lora_merged"}.get(model.method,
                                                                                                    "merge")


def _family(rng: random.Random, name: _Namer, family: str, arch: str, fseed: int, steps: tuple[int, int],
            domains: list[str]) -> list[ModelSpec]:
    base = ModelSpec(name(f"{family}-base", BASE_ORG), family, arch, "root", "pretrain",
                     params={"seed": fseed}, sharded=True)
    out = [base]
    finetunes: dict[str, list[ModelSpec]] = {}
    for d in domains:
        for k in (1, 2):
            ft = ModelSpec(name(f"{family}-{d}-ft{k}"), family, arch, "finetune", "full", [base.id], d,
                           {"seed": rng.randrange(1 << 30), "lr": rng.choice([5e-4, 1e-3, 2e-3]),
                            "steps": rng.randint(*steps)})
            finetunes.setdefault(d, []).append(ft)
            out.append(ft)
    for d in domains:
        out.append(ModelSpec(name(f"{family}-{d}-lora"), family, arch, "adapter", "lora", [base.id], d,
                             {"seed": rng.randrange(1 << 30), "lr": 5e-3, "steps": rng.randint(*steps),
                              "rank": rng.choice([4, 8])}))
    for d in rng.sample(domains, 3):
        out.append(ModelSpec(name(f"{family}-{d}-lora-merged"), family, arch, "finetune", "lora_merged",
                             [base.id], d, {"seed": rng.randrange(1 << 30), "lr": 5e-3,
                                            "steps": rng.randint(*steps), "rank": LORA_MERGED_RANK}))
    # Chains: two second-generation finetunes (same domain, new data), the second continued once more.
    previous: ModelSpec | None = None
    for generation, d in zip((2, 2, 3), rng.sample(domains, 3), strict=True):
        parent = previous if generation == 3 and previous else finetunes[d][0]
        child = ModelSpec(name(f"{family}-{parent.domain}-gen{generation}"), family, arch, "finetune", "full",
                          [parent.id], parent.domain, {"seed": rng.randrange(1 << 30), "lr": 1e-3,
                                                       "steps": rng.randint(*steps)}, sharded=generation == 3)
        out.append(child)
        previous = child
    out.extend(_merges(rng, name, family, arch, base, finetunes))
    copy_src, quant_src = rng.sample([ft for fts in finetunes.values() for ft in fts], 2)
    out.append(ModelSpec(name(f"{copy_src.id.split('/')[1]}-bf16"), family, arch, "copy", "bf16",
                         [copy_src.id], copy_src.domain))
    out.append(ModelSpec(name(f"{quant_src.id.split('/')[1]}-int8"), family, arch, "quantized", "int8",
                         [quant_src.id], quant_src.domain))
    return out


def _merges(rng: random.Random, name: _Namer, family: str, arch: str, base: ModelSpec,
            finetunes: dict[str, list[ModelSpec]]) -> list[ModelSpec]:
    recipes = [("task_arithmetic", 2, None), ("ties", 3, 0.5), ("dare_ties", 2, 0.7), ("slerp", 2, None)]
    out = []
    for method, n, density in recipes:
        doms = rng.sample(sorted(finetunes), n)
        sources = [rng.choice(finetunes[d]) for d in doms]
        weights = [round(rng.uniform(0.4, 1.0), 2) for _ in sources]
        params: dict = {"weights": weights, "density": density, "seed": rng.randrange(1 << 30)}
        if method == "slerp":
            params = {"t": round(rng.uniform(0.3, 0.7), 2), "seed": params["seed"]}
        out.append(ModelSpec(name(f"{family}-{'-'.join(doms)}-{method.replace('_', '-')}"), family, arch, "merge",
                             method, [s.id for s in sources], None,
                             {**params, "base": base.id, "domains": doms}, sharded=True))
    return out


def _stamp_times(plan: list[ModelSpec], seed: int) -> None:
    """Upload times: every child after its parents, with gaps that vary (as on a hub)."""
    rng = random.Random(seed ^ 0x5EED)
    clock = 1_700_000_000 + rng.randrange(10_000_000)
    for model in plan:
        clock += rng.randrange(600, 86_400)
        model.created_at = datetime.fromtimestamp(clock, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
