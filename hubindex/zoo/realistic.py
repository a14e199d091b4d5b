"""The realistic profile: what a real hub holds beside clean finetunes, each model tagged with its `kind`.

Four families of tiny models (the `tiny` dimensions, so ~100 models build in minutes): a Llama-like base with
most phenomena, a look-alike Llama base (same config, other init and pretraining mix), a Qwen2-like base (tied
embeddings, attention biases) and a GPT-2-like base. Phenomena: sibling sweeps, same-domain chains, optimizer
variety (AdamW with weight decay, SGD with momentum, schedules, clipping), short and long runs, continued
pretraining with finetunes of the continued model, vocabulary-extended finetunes, LoRA adapters of several ranks
and targets (also on finetunes), merged LoRAs, bf16 merges (task arithmetic, linear 3-way, TIES, SLERP),
finetunes saved in bf16 and children trained from them, fp16/bf16/re-sharded copies and int8 quantize-dequantize.

`size` picks the scale: "tiny" (~40 models, every kind at least once, for tests) or "small" (~100).
Upload times: roots first, each child after its parents with gaps that depend on the kind (a sweep within hours,
copies within days, chains weeks apart), shifted so the Hub's createdAt floor (2022-03-02T23:29:04Z) falls just
after the older half of the zoo (see hubindex.zoo.clock).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from hubindex import corpus
from hubindex.errors import HubindexError
from hubindex.zoo.clock import HUB_CREATED_FLOOR
from hubindex.zoo.spec import BASE_ORG, LORA_MERGED_RANK, ModelSpec, _Namer

DIMS = "tiny"  # model dimensions of every realistic zoo (the scale only changes how many models)
CHAT_TOKENS = ["<|im_start|>", "<|im_end|>"]

# Training recipes of the kinds that differ from the reference recipe (hubindex.train.loop.Recipe).
ADAMW_WD = {"optimizer": "adamw", "weight_decay": 0.1, "schedule": "linear", "clip": 0.5}
SGD = {"optimizer": "sgd", "momentum": 0.9, "schedule": "constant", "warmup": 0.0, "clip": None}
# LoRA targets per architecture: (rank, modules) pairs hub adapters use; None means every projection.
ADAPTER_SHAPES = {
    "llama": [(4, ["q_proj", "v_proj"]), (8, None), (16, ["q_proj", "k_proj", "v_proj", "o_proj"])],
    "qwen2": [(8, ["q_proj", "v_proj"]), (4, None), (16, ["q_proj", "k_proj", "v_proj", "o_proj"])],
    "gpt2": [(4, ["c_attn"]), (8, None), (16, ["c_attn", "c_proj"])],
}


@dataclass(frozen=True)
class Scale:
    pretrain_steps: int
    steps: tuple[int, int]  # ordinary finetunes
    long_steps: int
    continued_steps: int
    sweep: int  # runs in the main family's sweep
    chain: int  # depth of the main family's chain
    rich_families: bool  # the other three families get their own sweeps, chains and merges


SCALES = {
    "tiny": Scale(pretrain_steps=150, steps=(20, 35), long_steps=200, continued_steps=80, sweep=4, chain=3,
                  rich_families=False),
    "small": Scale(pretrain_steps=250, steps=(30, 50), long_steps=300, continued_steps=150, sweep=5, chain=4,
                   rich_families=True),
}


class _Family:
    """Adds models of one family to the plan, drawing their settings from the plan's one random stream."""

    def __init__(self, plan: list[ModelSpec], rng: random.Random, name: _Namer, scale: Scale, family: str,
                 arch: str, domains: list[str]) -> None:
        self.plan, self.rng, self.name, self.scale = plan, rng, name, scale
        self.family, self.arch, self.domains = family, arch, domains
        self.labels: set[str] = set()

    def _add(self, label: str, relation: str, method: str, kind: str, parents: list[ModelSpec],
             domain: str | None, params: dict, sharded: bool = False, org: str | None = None) -> ModelSpec:
        label = f"{self.family}-{label}"
        if label in self.labels:
            raise HubindexError(f"realistic plan names {label} twice")
        self.labels.add(label)
        spec = ModelSpec(self.name(label, org), self.family, self.arch, relation, method, [p.id for p in parents],
                         domain, params, sharded, kind=kind)
        self.plan.append(spec)
        return spec

    def base(self, seed: int, kind: str = "base", mix: dict[str, float] | None = None,
             tie: bool | None = None) -> ModelSpec:
        params: dict = {"seed": seed, "steps": self.scale.pretrain_steps}
        if mix:
            params["mix"] = mix
        if tie is not None:
            params["tie"] = tie
        return self._add("base", "root", "pretrain", kind, [], None, params, sharded=True, org=BASE_ORG)

    def finetune(self, label: str, parent: ModelSpec, domain: str | None, kind: str, lr: float | None = None,
                 steps: int | None = None, sharded: bool = False, **extra) -> ModelSpec:
        params = {"seed": self.rng.randrange(1 << 30), "lr": lr or self.rng.choice([5e-4, 1e-3, 2e-3]),
                  "steps": steps or self.rng.randint(*self.scale.steps), **extra}
        return self._add(label, "finetune", "full", kind, [parent], domain, params, sharded=sharded)

    def adapter(self, label: str, parent: ModelSpec, domain: str, kind: str, shape: int) -> ModelSpec:
        rank, targets = ADAPTER_SHAPES[self.arch][shape]
        params = {"seed": self.rng.randrange(1 << 30), "lr": 5e-3, "steps": self.rng.randint(*self.scale.steps),
                  "rank": rank}
        if targets:
            params["targets"] = targets
        return self._add(label, "adapter", "lora", kind, [parent], domain, params)

    def lora_merged(self, label: str, parent: ModelSpec, domain: str) -> ModelSpec:
        params = {"seed": self.rng.randrange(1 << 30), "lr": 5e-3, "steps": self.rng.randint(*self.scale.steps),
                  "rank": self.rng.choice([4, LORA_MERGED_RANK])}
        return self._add(label, "finetune", "lora_merged", "lora_merged", [parent], domain, params)

    def merge(self, method: str, sources: list[ModelSpec], base: ModelSpec) -> ModelSpec:
        params: dict = {"seed": self.rng.randrange(1 << 30), "base": base.id, "dtype": "bfloat16",
                        "domains": [s.domain for s in sources]}
        if method == "slerp":
            params["t"] = round(self.rng.uniform(0.3, 0.7), 2)
        else:
            params["weights"] = [round(self.rng.uniform(0.3, 1.0), 2) for _ in sources]
            params["density"] = 0.5 if method == "ties" else None
        label = f"{'-'.join(str(d) for d in params['domains'])}-{method.replace('_', '-')}"
        return self._add(label, "merge", method, "merge_bf16", sources, None, params, sharded=True)

    def copy(self, source: ModelSpec, kind: str) -> ModelSpec:
        relation, method = ("quantized", "int8") if kind == "int8" else ("copy", kind.removeprefix("copy_"))
        label = f"{source.id.split('/')[1].removeprefix(self.family + '-')}-{kind.replace('_', '-')}"
        return self._add(label, relation, method, kind, [source], source.domain, {},
                         sharded=kind == "reshard" or source.sharded)


def plan_realistic(seed: int, size: str, name: _Namer) -> list[ModelSpec]:
    if size not in SCALES:
        raise HubindexError(f"the realistic profile comes in sizes {', '.join(SCALES)}, not {size!r}")
    scale = SCALES[size]
    rng = random.Random(f"realistic:{seed}")
    domains = corpus.domain_names()[:6]
    plan: list[ModelSpec] = []
    _main_family(_Family(plan, rng, name, scale, "lm", "llama", domains), seed * 1000)
    _lookalike_family(_Family(plan, rng, name, scale, "lx", "llama", domains), seed * 1000 + 1)
    _qwen_family(_Family(plan, rng, name, scale, "qw", "qwen2", domains), seed * 1000 + 2)
    _gpt_family(_Family(plan, rng, name, scale, "gp", "gpt2", domains), seed * 1000 + 3)
    _stamp_times(plan, seed)
    return plan


def _main_family(f: _Family, fseed: int) -> None:
    s, rng = f.scale, f.rng
    base = f.base(fseed)
    d_sweep, d_chain, *others = rng.sample(f.domains, len(f.domains))
    plain = [f.finetune(f"{d}-ft", base, d, "finetune") for d in others[: 4 if s.rich_families else 2]]
    sweep = [f.finetune(f"{d_sweep}-sweep{k}", base, d_sweep, "sweep", lr=lr)
             for k, lr in enumerate(rng.sample([3e-4, 5e-4, 1e-3, 2e-3, 3e-3], s.sweep), 1)]
    chain = [base]
    for depth in range(1, s.chain + 1):
        chain.append(f.finetune(f"{d_chain}-gen{depth}", chain[-1], d_chain, "chain", lr=1e-3,
                                sharded=depth == s.chain))
    for k in range(2 if s.rich_families else 1):
        d, d_sgd, touched = rng.choice(f.domains), rng.choice(f.domains), plain[k % len(plain)]
        f.finetune(f"{d}-wd{k}", base, d, "adamw_wd", lr=2e-3, **ADAMW_WD)
        f.finetune(f"{d_sgd}-sgd{k}", base, d_sgd, "sgd", lr=rng.choice([0.02, 0.05]), **SGD)
        f.finetune(f"{touched.domain}-touchup{k}", touched, touched.domain, "short_run", lr=1e-3,
                   steps=rng.randint(5, 10))
    f.finetune(f"{d_chain}-long", base, d_chain, "long_run", lr=1e-3, steps=s.long_steps)
    for k in range(2 if s.rich_families else 1):
        d = rng.choice(f.domains)
        f.finetune(f"{d}-chat{k}", base, d, "vocab_extended", added_tokens=CHAT_TOKENS,
                   **({"pad_to": 64} if k == 0 else {}))
    for shape in range(3 if s.rich_families else 2):
        f.adapter(f"{others[shape % len(others)]}-lora-r{shape}", base, others[shape % len(others)], "lora", shape)
    f.adapter(f"{d_chain}-lora-on-gen", chain[2], d_chain, "adapter_on_finetune", 0)
    if s.rich_families:
        f.adapter(f"{plain[1].domain}-lora-on-ft", plain[1], plain[1].domain, "adapter_on_finetune", 1)
    for d in rng.sample(f.domains, 2 if s.rich_families else 1):
        f.lora_merged(f"{d}-lora-merged", base, d)
    f.merge("task_arithmetic", [plain[0], sweep[0]], base)
    f.merge("linear", [plain[1], sweep[1], chain[1]], base)
    f.merge("ties", [plain[0], plain[1], sweep[2]], base)
    f.merge("slerp", [sweep[0], chain[1]], base)
    low = f.finetune(f"{others[0]}-ft-bf16", base, others[0], "finetune_bf16", save_dtype="bfloat16")
    child = f.finetune(f"{others[0]}-from-bf16", low, others[0], "child_of_bf16", lr=1e-3,
                       **({"save_dtype": "bfloat16"} if s.rich_families else {}))
    if s.rich_families:
        f.finetune(f"{others[0]}-from-bf16-2", child, others[0], "child_of_bf16", lr=1e-3)
        f.finetune(f"{others[1]}-from-bf16", low, others[1], "child_of_bf16", lr=1e-3)
    f.copy(plain[0], "copy_fp16")
    f.copy(plain[1], "copy_bf16")
    f.copy(sweep[1], "reshard")
    f.copy(chain[2], "int8")
    continued = f.finetune("continued", base, None, "continued_pretrain", lr=1e-3, steps=s.continued_steps,
                           corpus="mix")
    for d in others[: 2 if s.rich_families else 1]:
        f.finetune(f"{d}-ft-on-continued", continued, d, "on_continued")


def _lookalike_family(f: _Family, fseed: int) -> None:
    """Same config as the main base; other init and a pretraining mix weighted towards a few domains."""
    rng = f.rng
    favoured = rng.sample(f.domains, 3)
    base = f.base(fseed, "lookalike_base", mix={**{d: 1.0 for d in f.domains}, **{d: 3.0 for d in favoured},
                                                 "general": 2.0})
    plain = [f.finetune(f"{d}-ft", base, d, "finetune") for d in rng.sample(f.domains, 3 if f.scale.rich_families
                                                                             else 1)]
    f.adapter(f"{plain[0].domain}-lora", base, plain[0].domain, "lora", 1)
    if not f.scale.rich_families:
        return
    f.adapter(f"{plain[1].domain}-lora", base, plain[1].domain, "lora", 0)
    d = rng.choice(f.domains)
    sweep = [f.finetune(f"{d}-sweep{k}", base, d, "sweep", lr=lr)
             for k, lr in enumerate(rng.sample([5e-4, 1e-3, 2e-3, 3e-3], 4), 1)]
    d = rng.choice(f.domains)
    f.finetune(f"{d}-sgd", base, d, "sgd", lr=0.03, **SGD)
    f.finetune(f"{plain[2].domain}-touchup", plain[2], plain[2].domain, "short_run", lr=1e-3,
               steps=rng.randint(5, 10))
    f.merge("ties", [plain[0], sweep[0], sweep[2]], base)
    f.copy(plain[1], "int8")
    f.adapter(f"{plain[2].domain}-lora-on-ft", plain[2], plain[2].domain, "adapter_on_finetune", 2)


def _qwen_family(f: _Family, fseed: int) -> None:
    rng, rich = f.rng, f.scale.rich_families
    base = f.base(fseed, tie=True)
    plain = [f.finetune(f"{d}-ft", base, d, "finetune") for d in rng.sample(f.domains, 3 if rich else 1)]
    f.adapter(f"{plain[0].domain}-lora", base, plain[0].domain, "lora", 0)
    f.finetune(f"{plain[0].domain}-chat", base, plain[0].domain, "vocab_extended", added_tokens=CHAT_TOKENS)
    if not rich:
        return
    d = plain[1].domain
    chain = [plain[1]]
    for depth in (2, 3):
        chain.append(f.finetune(f"{d}-gen{depth}", chain[-1], d, "chain", lr=1e-3))
    f.adapter(f"{plain[2].domain}-lora", base, plain[2].domain, "lora", 2)
    f.merge("slerp", [plain[0], plain[2]], base)
    f.merge("task_arithmetic", [plain[0], plain[1], plain[2]], base)
    d = rng.choice(f.domains)
    f.finetune(f"{d}-sgd", base, d, "sgd", lr=0.05, **SGD)
    f.finetune(f"{plain[0].domain}-touchup", plain[0], plain[0].domain, "short_run", lr=1e-3,
               steps=rng.randint(5, 10))
    f.finetune(f"{plain[2].domain}-long", base, plain[2].domain, "long_run", lr=1e-3, steps=f.scale.long_steps)
    f.copy(plain[2], "copy_bf16")
    f.copy(chain[1], "int8")
    f.adapter(f"{d}-lora-on-gen", chain[1], d, "adapter_on_finetune", 1)
    d = rng.choice(f.domains)
    f.lora_merged(f"{d}-lora-merged", base, d)


def _gpt_family(f: _Family, fseed: int) -> None:
    rng, rich = f.rng, f.scale.rich_families
    base = f.base(fseed)
    plain = [f.finetune(f"{d}-ft", base, d, "finetune") for d in rng.sample(f.domains, 3 if rich else 1)]
    f.adapter(f"{plain[0].domain}-lora", base, plain[0].domain, "lora", 0)
    if not rich:
        return
    d = rng.choice(f.domains)
    sweep = [f.finetune(f"{d}-sweep{k}", base, d, "sweep", lr=lr)
             for k, lr in enumerate(rng.sample([5e-4, 1e-3, 2e-3, 3e-3], 4), 1)]
    chain = [plain[1]]
    for depth in (2, 3):
        chain.append(f.finetune(f"{plain[1].domain}-gen{depth}", chain[-1], plain[1].domain, "chain", lr=1e-3))
    f.adapter(f"{plain[2].domain}-lora", base, plain[2].domain, "lora", 2)
    f.finetune(f"{plain[2].domain}-chat", base, plain[2].domain, "vocab_extended", added_tokens=CHAT_TOKENS,
               pad_to=64)
    f.merge("ties", [plain[0], sweep[1], plain[2]], base)
    f.merge("linear", [sweep[0], sweep[3]], base)
    d_sgd, d_wd = rng.choice(f.domains), rng.choice(f.domains)
    f.finetune(f"{d_sgd}-sgd", base, d_sgd, "sgd", lr=0.05, **SGD)
    f.finetune(f"{d_wd}-wd", base, d_wd, "adamw_wd", lr=2e-3, **ADAMW_WD)
    f.finetune(f"{plain[0].domain}-touchup", plain[0], plain[0].domain, "short_run", lr=1e-3,
               steps=rng.randint(5, 10))
    f.copy(plain[0], "copy_fp16")
    f.copy(sweep[2], "int8")
    d = rng.choice(f.domains)
    f.lora_merged(f"{d}-lora-merged", base, d)


# Upload gaps after the (latest) parent, in hours, by kind: (low, high). Roots come first, within weeks.
GAP_HOURS = {"sweep": (2, 30), "copy_fp16": (1, 72), "copy_bf16": (1, 72), "reshard": (1, 72), "int8": (2, 120),
             "short_run": (1, 48), "chain": (24 * 5, 24 * 40)}
DEFAULT_GAP_HOURS = (12, 24 * 60)
ROOT_SPREAD_HOURS = 24 * 21


def _stamp_times(plan: list[ModelSpec], seed: int) -> None:
    """Real upload times (truth.json keeps them): every child after its parents; then shifted so that the models
    up to the median time, every root among them, lie just before the Hub's createdAt floor."""
    rng = random.Random(f"realistic-times:{seed}")
    times: dict[str, float] = {}
    sweep_start: dict[tuple[str, ...], float] = {}
    for model in plan:
        if not model.parents:
            times[model.id] = rng.uniform(0, ROOT_SPREAD_HOURS) * 3600
            continue
        after = max(times[p] for p in model.parents)
        low, high = GAP_HOURS.get(model.kind, DEFAULT_GAP_HOURS)
        if model.kind == "sweep":  # a sweep's runs land together, in any order
            after = sweep_start.setdefault(tuple(model.parents), after + rng.uniform(12, 24 * 20) * 3600)
        times[model.id] = after + rng.uniform(low, high) * 3600 + rng.uniform(0, 60)
    ordered = sorted(times.values())
    cutoff = max(ordered[(len(ordered) - 1) // 2], *(times[m.id] for m in plan if not m.parents))
    shift = HUB_CREATED_FLOOR.timestamp() - 30 - cutoff  # the cutoff model lands 30 s before the floor
    for model in plan:
        stamp = round(times[model.id] + shift)
        model.created_at = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if len({m.created_at for m in plan}) < len(plan):  # never drawn so far; a tie would blur the clock tests
        raise HubindexError(f"realistic plan for seed {seed} drew two equal upload times")
