"""Model Stock: move from the base towards the average of the finetunes by t = N cos / (1 + (N - 1) cos), with cos
the mean pairwise cosine of the task vectors (whole tensor, or per row with `filter_wise`). As in mergekit, cos is
not clamped at 0 (each pairwise cosine is clamped to [-1, 1], norms below 1e-6 count as 1e-6) and a denominator
within 1e-6 of 0 keeps the base. Needs the base and at least two models."""

import torch

from hubindex.train.merge.methods import MergeMethod, Param, TensorInputs


def merge(x: TensorInputs):
    base = x.base
    models = [x.tensors[i] for i in x.non_base()]
    if x.shared["filter_wise"]:
        w0 = base.unsqueeze(0) if base.dim() == 1 else base
        ws = [m.unsqueeze(0) if m.dim() == 1 else m for m in models]
    else:
        w0, ws = base.flatten(), [m.flatten() for m in models]
    offsets = [w - w0 for w in ws]
    cosines = []
    for i, a in enumerate(offsets):
        for b in offsets[i + 1 :]:
            norms = (a.norm(dim=-1) * b.norm(dim=-1)).clamp(min=1e-6)
            cosines.append(((a * b).sum(dim=-1) / norms).clamp(-1, 1))
    cos = torch.stack(cosines).mean(dim=0).unsqueeze(-1)
    n = len(ws)
    denominator = 1 + (n - 1) * cos
    singular = denominator.abs() < 1e-6
    t = torch.where(singular, torch.zeros_like(cos), n * cos / torch.where(singular, torch.ones_like(cos),
                                                                              denominator))
    average = sum(ws) / n
    return (t * average + (1 - t) * w0).reshape(base.shape)


METHOD = MergeMethod("model_stock", merge, (Param("filter_wise", bool, "shared", False),), min_inputs=3)
