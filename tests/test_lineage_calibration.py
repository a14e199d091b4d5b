"""The confidence map (hubindex.lineage.calibration): monotone, in [0, 1], shrunk where answers are few, applied when
lineage is stored, and fitted by one command (hubindex.evaluate.calibrate) on indexed catalogs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hubindex.evaluate.calibrate import Answers, cross_validate, print_cv
from hubindex.lineage import confidence
from hubindex.lineage.answers import LineageEntry
from hubindex.lineage.calibration import (
    DOUBT_WEIGHT,
    GROUPS,
    PRIOR_WEIGHT,
    RAW_KEY,
    CalibrationMap,
    apply_map,
    fit_curve,
    fit_map,
    load_map,
    raw_confidence,
)

GRID = np.linspace(-0.5, 1.5, 401)


def _assert_monotone_in_unit(fitted: CalibrationMap) -> None:
    for relation in [*GROUPS, "unknown"]:
        values = np.array([fitted.probability(relation, x) for x in GRID])
        assert np.all(np.diff(values) >= 0), relation
        assert values.min() >= 0.0 and values.max() <= 1.0, relation


def test_a_fitted_map_is_monotone_in_unit_range_and_keeps_the_ranking_between_blocks():
    rng = np.random.default_rng(3)
    raw = rng.uniform(0.1, 1.0, 600)
    right = rng.uniform(size=600) < raw ** 2  # the raw score ranks answers but is no probability
    relations = rng.choice(["finetune", "merge", "adapter", "copy"], 600).tolist()
    fitted = fit_map(relations, raw.tolist(), right.tolist())
    _assert_monotone_in_unit(fitted)
    curve = fitted.groups["finetune"]
    assert curve.answers == relations.count("finetune")
    # Piecewise linear between blocks of different level: strictly increasing there, so no new ties; flat from the
    # first and last block's mean score to the lowest and highest score fitted on (the curve spans its data).
    scores = raw[np.array(relations) == "finetune"]
    assert curve.raw[0] == pytest.approx(scores.min(), abs=1e-6)
    assert curve.raw[-1] == pytest.approx(scores.max(), abs=1e-6)
    assert curve.probability[0] == curve.probability[1] and curve.probability[-1] == curve.probability[-2]
    grid = GRID
    inside = grid[(grid > curve.raw[1]) & (grid < curve.raw[-2])]
    assert np.all(np.diff([curve(x) for x in inside]) > 0)
    # Near raw ** 2 where answers are many (the map reads the share of right answers).
    assert fitted.pooled(0.9) == pytest.approx(0.81, abs=0.1) and fitted.pooled(0.3) < 0.25


def test_a_group_with_few_answers_falls_back_toward_the_pooled_map():
    """Three right sparse-merge answers are no certainty: with PRIOR_WEIGHT pseudo-answers of the pooled map they
    stay near its level; a group with hundreds of answers keeps its own."""
    raw = [0.7] * 200 + [0.7] * 3
    right = [True] * 100 + [False] * 100 + [True] * 3
    fitted = fit_map(["finetune"] * 200 + ["merge"] * 3, raw, right)
    assert fitted.groups["finetune"](0.7) == pytest.approx(0.5, abs=0.01)
    expected = (3 + PRIOR_WEIGHT * fitted.pooled(0.7) + DOUBT_WEIGHT * 0.5) / (3 + PRIOR_WEIGHT + DOUBT_WEIGHT)
    assert fitted.groups["merge"](0.7) == pytest.approx(expected, abs=1e-5)
    assert fitted.groups["merge"](0.7) < 0.65  # its own three say 1.0
    # No block claims certainty from a few answers: the pooled one counts one pseudo-answer at the overall share.
    pooled = fit_curve(np.array([0.2, 0.9, 0.9, 0.9]), np.array([False, True, True, True]))
    assert pooled(0.9) == pytest.approx((3 + 0.75) / 4) and pooled(0.2) == pytest.approx(0.75 / 2)
    with pytest.raises(ValueError):
        fit_map([], [], [])


def test_at_the_top_of_a_groups_scores_the_group_speaks_not_the_pooled_curve():
    """Adapters at their cap 0.95 were wrong 1 time in 10; the block's mean score (0.91) is below 0.95, and 0.95 is
    still inside what the group was fitted on, so the pooled curve (all right there) does not lift it."""
    fitted = fit_map(["adapter"] * 20 + ["finetune"] * 200, [0.87] * 10 + [0.95] * 10 + [0.95] * 200,
                     [True] * 10 + [True] * 8 + [False] * 2 + [True] * 200)
    assert fitted.groups["adapter"].raw[-1] == 0.95
    assert fitted.probability("adapter", 0.95) == pytest.approx(fitted.groups["adapter"](0.95))
    assert fitted.probability("adapter", 0.95) < fitted.probability("finetune", 0.95)


def test_a_group_seen_right_fewer_times_is_less_sure_at_its_top():
    """Both groups were always right at 0.95; 30 answers say less than 600, though both shrink toward one pooled
    curve: the doubt pseudo-answer orders the tops by how much each group has been seen."""
    fitted = fit_map(["adapter"] * 30 + ["finetune"] * 600 + ["finetune"] * 60, [0.95] * 630 + [0.3] * 60,
                     [True] * 630 + [False] * 60)
    few, many = fitted.probability("adapter", 0.95), fitted.probability("finetune", 0.95)
    assert few < many < 1.0
    assert 1 - few > 5 * (1 - many)


def test_beyond_a_groups_fitted_range_the_pooled_curve_speaks():
    """Every fitted root was right at 0.9-1.0; a root with no family (raw 0.3) is not certain for that."""
    fitted = fit_map(["root"] * 20 + ["finetune"] * 40, [0.95] * 20 + [0.3] * 20 + [0.9] * 20,
                     [True] * 20 + [False] * 18 + [True] * 2 + [True] * 20)
    assert fitted.groups["root"](0.3) == fitted.groups["root"](0.95) > 0.9  # the group's own curve is flat
    assert fitted.probability("root", 0.3) == pytest.approx(fitted.pooled(0.3))
    assert fitted.probability("root", 0.3) < 0.3
    assert fitted.probability("finetune", 1.0) == pytest.approx(max(fitted.groups["finetune"](1.0),
                                                                     fitted.pooled(1.0)))
    _assert_monotone_in_unit(fitted)


def test_apply_map_keeps_the_raw_score_in_the_evidence():
    fitted = fit_map(["finetune"] * 4, [0.2, 0.4, 0.6, 0.9], [False, True, True, True])
    entries = [LineageEntry(model="a", parents=["r"], relation="finetune", confidence=0.3, evidence={}),
               LineageEntry(model="r", parents=[], relation="root", confidence=1.0, evidence={})]
    apply_map(entries, fitted)
    assert entries[0].evidence[RAW_KEY] == 0.3 and entries[1].evidence[RAW_KEY] == 1.0
    assert entries[0].confidence == pytest.approx(fitted.probability("finetune", 0.3), abs=1e-4)
    assert 0.0 <= entries[0].confidence < entries[1].confidence <= 1.0


def test_an_overruled_finetune_is_capped_before_the_map_and_a_refit_reads_the_capped_score():
    fitted = fit_map(["finetune"] * 4, [0.2, 0.4, 0.6, 0.98], [False, True, True, True])
    moved = LineageEntry(model="a", parents=["r"], relation="finetune", confidence=0.98,
                         evidence={"sibling_of": "org/sibling"})
    plain = LineageEntry(model="b", parents=["r"], relation="finetune", confidence=0.98, evidence={})
    apply_map([moved, plain], fitted)
    assert moved.evidence[RAW_KEY] == confidence.OVERRULED_NEAREST and plain.evidence[RAW_KEY] == 0.98
    assert moved.confidence == pytest.approx(fitted.probability("finetune", confidence.OVERRULED_NEAREST), abs=1e-4)
    assert moved.confidence < plain.confidence
    # A catalog stored before the cap (its raw score uncapped in the evidence) is read as the map now sees it.
    old = LineageEntry(model="c", parents=["r"], relation="finetune", confidence=0.999,
                       evidence={"not_held": "org/sibling", RAW_KEY: 0.95})
    assert raw_confidence(old) == confidence.OVERRULED_NEAREST
    assert raw_confidence(plain) == 0.98


def test_a_finetune_of_a_heavy_tailed_run_is_capped_by_reading_its_parents_answer():
    """Momentum-SGD siblings share their heavy coordinates: a finetune whose parent's own step is heavy-tailed may be
    that parent's sibling whatever its margins say. The parent's answer is in the same family (apply_map's list) and
    in the catalog (raw_confidence's `answers`); a clean parent, a merged LoRA or an answer without its parent's
    answer keep their score."""
    fitted = fit_map(["finetune"] * 4, [0.2, 0.4, 0.6, 0.98], [False, True, True, True])

    def family(parent_tail: float, **extra: object) -> list[LineageEntry]:
        return [LineageEntry(model="r", parents=[], relation="root", confidence=1.0, evidence={}),
                LineageEntry(model="p", parents=["r"], relation="finetune", confidence=0.95,
                             evidence={"step_tail": parent_tail}),
                LineageEntry(model="c", parents=["p"], relation="finetune", confidence=0.98,
                             evidence={"step_tail": 2.4, "sibling_residual": 0.84, **extra})]

    heavy = apply_map(family(confidence.UNCAPPED + 1.0), fitted)
    assert heavy[2].evidence[RAW_KEY] == confidence.HEAVY_TAILED_PARENT
    assert heavy[1].evidence[RAW_KEY] == 0.95  # the run itself, a child of the root, is not in doubt
    assert heavy[2].confidence < heavy[1].confidence
    assert apply_map(family(1.3), fitted)[2].evidence[RAW_KEY] == 0.98
    assert apply_map(family(4.0, lora_merged=True), fitted)[2].evidence[RAW_KEY] == 0.98
    # A refit reads the parent's answer from the catalog's answers; idempotent on a score already capped.
    stored = heavy
    answers = {e.model: e for e in stored}
    assert raw_confidence(stored[2], answers) == confidence.HEAVY_TAILED_PARENT
    unstored = family(4.0)
    assert raw_confidence(unstored[2]) == 0.98  # no answers given: nothing read
    assert raw_confidence(unstored[2], {e.model: e for e in unstored}) == confidence.HEAVY_TAILED_PARENT


def test_a_merge_whose_sources_explain_little_beyond_one_source_is_doubtful():
    """A dense merge whose fit leaves more than 1 / MERGE_RELATIVE_GAIN of its best single source's residual is
    capped at MERGE_OF_MERGE; a sparse merge (no single-source residual stored) and a clear merge are left alone."""
    def merge(residual: float, single: float | None) -> float:
        evidence: dict = {"residual": residual}
        if single is not None:
            evidence["single_source_residual"] = single
        return confidence.from_evidence("merge", evidence, confidence.merge(residual, None))

    assert merge(0.119, 0.232) == confidence.MERGE_OF_MERGE  # s114-reset: a chain read as a SLERP
    assert merge(0.057, 0.233) == pytest.approx(1 - 0.057)  # the least clear right SLERP of 105-116
    assert merge(0.119, None) == pytest.approx(1 - 0.119)
    assert confidence.from_evidence("finetune", {"residual": 0.1, "single_source_residual": 0.1}, 0.9) == 0.9


def test_a_merge_the_chain_rule_read_as_a_chain_is_capped_like_an_overruled_finetune():
    entry = LineageEntry(model="m", parents=["a"], relation="finetune", confidence=0.77,
                         evidence={"merge_read_as_chain": ["org/a", "org/b"]})
    assert raw_confidence(entry) == confidence.OVERRULED_NEAREST


def test_cross_validation_holds_out_every_clock_of_a_seed_and_names_the_worst_seed(capsys):
    rng = np.random.default_rng(5)
    answers = []
    for seed in ("1", "2", "3"):
        for clock in ("real", "reset"):
            raw = rng.uniform(0.1, 1.0, 60)
            answers.append(Answers(name=f"s{seed}-{clock}", seed=seed, relations=["finetune"] * 60,
                                   raw=raw.tolist(), right=(rng.uniform(size=60) < raw).tolist()))
    rows = cross_validate(answers)
    assert [r["catalog"] for r in rows] == [a.name for a in answers]
    assert all(r["fold"] == f"leave out {r['seed']}" for r in rows)
    print_cv(rows)
    out = capsys.readouterr().out
    assert "worst seed" in out and "pooled over 360 held-out answers" in out
    assert all(f"seed {s}: AUROC" in out for s in ("1", "2", "3"))


def test_the_committed_map_is_monotone_and_fitted_on_design_catalogs_only():
    fitted = load_map()
    assert fitted is not None, "hubindex/lineage/calibration.json is missing: run python -m hubindex.evaluate.calibrate"
    _assert_monotone_in_unit(fitted)
    assert set(fitted.groups) <= set(GROUPS.values())
    # Raw scores still rank answers within a relation after the map (no block swallows the whole range).
    assert fitted.probability("root", confidence.NO_FAMILY) < 0.5 < fitted.probability("root", confidence.ROOT_BY_TIME)
    # A finetune at the bottom of its range is doubtful (more likely wrong than right), one at the top is not. The
    # level at the bottom is the data's (0.18 on 105-113, 0.45 on 105-116 with stop 28's decisions), not a constant.
    assert fitted.probability("finetune", confidence.FINETUNE_RANGE[0]) < 0.5 < fitted.probability(
        "finetune", confidence.FINETUNE_RANGE[1])
    # An overruled finetune (capped at OVERRULED_NEAREST) ranks below a finetune sure by its margins.
    assert fitted.probability("finetune", confidence.OVERRULED_NEAREST) < fitted.probability(
        "finetune", confidence.FINETUNE_RANGE[1])
    # Design seeds only: 123-125 are the lead's held-out seeds (120-122 were, last round, and are design seeds now).
    assert fitted.fitted_on and not any(s in name for name in fitted.fitted_on for s in ("123", "124", "125"))


def test_the_fit_command_recomputes_lineage_on_a_copy_and_writes_a_map(tiny_catalog, tiny_zoo, tmp_path, capsys):
    from hubindex.catalog import Catalog
    from hubindex.evaluate.calibrate import collect, main

    before = tiny_catalog.read_bytes()
    out = tmp_path / "map.json"
    truth = tiny_zoo / "truth.json"
    assert main(["--pair", str(tiny_catalog), str(truth), "--out", str(out)]) == 0
    assert tiny_catalog.read_bytes() == before  # the fixture catalog is read, never written
    fitted = CalibrationMap.model_validate(json.loads(out.read_text()))
    _assert_monotone_in_unit(fitted)
    assert fitted.fitted_on == [tiny_zoo.name]
    with Catalog(str(tiny_catalog), read_only=True) as catalog:
        models = {r["id"] for r in catalog.models(ok_only=True)}
    answers = collect(tiny_catalog, truth)
    assert fitted.pooled.answers == len(answers.right) == len(models & set(json.loads(truth.read_text())))
    assert fitted.pooled.right == sum(answers.right)
    # The tiny zoo is right everywhere: every level the map gives is high.
    assert min(fitted.probability(r, x) for r, x in zip(answers.relations, answers.raw, strict=True)) > 0.9
    assert "wrote" in capsys.readouterr().out
    # Saved answers refit the same map without recomputing lineage.
    saved, again = tmp_path / "answers.json", tmp_path / "again.json"
    stored = ["--pair", str(tiny_catalog), str(truth), "--as-stored"]
    assert main([*stored, "--no-write", "--save-answers", str(saved)]) == 0
    assert main(["--answers", str(saved), "--out", str(again)]) == 0
    assert json.loads(again.read_text()) == json.loads(out.read_text())
