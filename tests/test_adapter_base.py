"""Adapter bases: the weights' shortlist, the gradient-alignment decision and its confidence (pure decisions here;
the indexing run that uses them is tested in test_catalog.py)."""

import json
from datetime import datetime

import numpy as np
import pytest

from hubindex.catalog import Catalog
from hubindex.indexer.adapter_base import (
    SHORTLIST,
    TOP_PASSAGES,
    gradient_alignment,
    measured,
    offset_cosines,
    shortlisted,
    uploaded_after,
)
from hubindex.lineage import adapter_choice, confidence
from hubindex.lineage.adapter_choice import Fact, by_alignment
from hubindex.status import BaseSource
from hubindex.zoo.truth import load_truth


def test_the_best_aligned_candidate_is_the_base_and_its_margin_is_relative_to_its_alignment():
    base, margin = by_alignment({"root": 0.09, "finetune": 0.12, "child": 0.06})
    assert base == "finetune"
    assert margin == pytest.approx(0.25)  # (0.12 - 0.09) / 0.12
    # A tie is no decision worth trusting; a lone candidate or one the runner-up opposes is.
    assert by_alignment({"a": 0.1, "b": 0.1})[1] == 0.0
    assert by_alignment({"a": 0.1})[1] == 1.0
    assert by_alignment({"a": -0.1, "b": -0.2})[1] == 0.0  # nothing aligned: no margin
    assert by_alignment({}) is None


def test_adapter_confidence_follows_the_margin_of_the_decision():
    tied, clear, far = (confidence.adapter(BaseSource.GRADIENT, m) for m in (0.0, 0.15, 0.9))
    assert tied == confidence.ADAPTER_TIED < clear < far == confidence.ADAPTER_RANGE[1]
    # Below every right finetune's typical confidence when the runner-up aligns as well.
    assert tied <= confidence.FINETUNE_BASE
    assert confidence.adapter(BaseSource.GRADIENT, None) == confidence.ADAPTER_TIED
    assert confidence.adapter("weights") == confidence.ADAPTER["weights"]


def test_offset_cosines_point_to_the_member_the_delta_keeps_moving_along():
    rng = np.random.default_rng(0)
    root = rng.normal(size=200)
    along = rng.normal(size=200)
    members = np.stack([root, root + along, root + rng.normal(size=200)])
    found = offset_cosines(along + 0.3 * rng.normal(size=200), members, 0)
    assert found[0] == 0.0 and int(np.argmax(found)) == 1 and found[1] > 0.9 and abs(found[2]) < 0.3


def test_the_weights_choice_stands_where_the_gradient_cannot_separate_it_from_the_best():
    near = {"root": 0.200, "finetune": 0.204}  # a root and its finetune align within 2 %
    assert by_alignment(near, preferred="root")[0] == "root"
    assert by_alignment(near, preferred="root")[1] == 0.0  # and the confidence says so
    clear = {"root": 0.10, "finetune": 0.14}
    assert by_alignment(clear, preferred="root")[0] == "finetune"
    assert by_alignment(near)[0] == "finetune"


def test_the_shortlist_keeps_a_member_the_delta_moves_against():
    # Continuation scores favour the root and its near members; the adapter's delta runs against "chain"'s own
    # offset (an adapter on another kind of text takes back part of that finetune's move): it is shortlisted,
    # while a member the delta is orthogonal to is not.
    members = [f"m{i}" for i in range(12)]
    scores = {m: 0.5 - 0.01 * i for i, m in enumerate(members)} | {"chain": -0.2, "orthogonal": -0.3}
    toward = {m: 0.3 - 0.01 * i for i, m in enumerate(members)} | {"chain": -0.45, "orthogonal": 0.001}
    picked = shortlisted(scores, toward)
    assert "chain" in picked and "orthogonal" not in picked
    assert picked[:SHORTLIST] == members[:SHORTLIST]  # the continuation ranking comes first


def test_the_offset_ranking_adds_members_the_continuation_ranking_does_not_hold():
    # Six members lead both rankings; they take no place of the offset ranking, so "chain" (the base of an adapter
    # on a chain member, 7th by |offset cosine|, last by continuation) still gets in.
    members = [f"m{i}" for i in range(12)]
    scores = {m: 0.5 - 0.01 * i for i, m in enumerate(members)} | {"chain": -0.1}
    toward = {m: 0.4 - 0.01 * i for i, m in enumerate(members[:6])} | {"chain": -0.08} \
        | {m: 0.05 - 0.001 * i for i, m in enumerate(members[6:])}
    picked = shortlisted(scores, toward)
    assert "chain" in picked and len(picked) == len(set(picked)) == 2 * SHORTLIST
    assert picked[:SHORTLIST] == members[:SHORTLIST]


def test_a_model_created_after_the_adapter_is_not_its_base_but_a_tie_or_a_missing_time_excludes_nothing():
    adapter = datetime(2022, 4, 8)
    assert uploaded_after(datetime(2022, 4, 18), adapter)  # a chain member's child uploaded later
    assert not uploaded_after(datetime(2022, 4, 2), adapter)
    assert not uploaded_after(adapter, adapter)  # the createdAt floor, a copy's one mtime
    assert not uploaded_after(None, adapter) and not uploaded_after(datetime(2022, 4, 18), None)


def test_a_win_that_one_passage_makes_does_not_overrule_the_weights():
    aligned = {"root": 0.129, "finetune": 0.137}  # 6 % apart: beyond WEIGHTS_TIE
    # With the third passage left out, the root aligns better: the finetune's win rests on one passage.
    one_passage = {"root": [0.159, 0.143, 0.100], "finetune": [0.146, 0.136, 0.090]}
    assert by_alignment(aligned, "root", one_passage)[0] == "root"
    every = {"root": [0.120, 0.125, 0.110], "finetune": [0.130, 0.140, 0.131]}
    assert by_alignment(aligned, "root", every)[0] == "finetune"
    # Without the subsets (a result from an older worker) or without a weights' choice, the best aligned decides.
    assert by_alignment(aligned, "root")[0] == "finetune"
    assert by_alignment(aligned, None, one_passage)[0] == "finetune"


def test_gradient_alignment_is_taken_on_all_passages_and_with_each_left_out(tiny_zoo):
    truth = load_truth(tiny_zoo)
    adapter = next(m for m, e in truth.items() if e["relation"] == "adapter")
    base = truth[adapter]["parents"][0]
    finetune = next(m for m, e in truth.items() if e["relation"] == "finetune" and e["parents"] == [base])
    aligned = gradient_alignment(tiny_zoo / adapter, {base: tiny_zoo / base, finetune: tiny_zoo / finetune}, base)
    assert set(aligned) == {base, finetune}
    assert all(len(a) == 3 + 2 * TOP_PASSAGES and all(-1 <= x <= 1 for x in a) for a in aligned.values())
    split = {c: measured(a) for c, a in aligned.items()}
    assert all(len(set(a[1])) == len(a[1]) == TOP_PASSAGES == len(a[3]) - 1 for a in split.values())
    # The passages are chosen on the base: there its own passages are the shared ones.
    assert split[base][3] == [split[base][0], *split[base][1]]
    full = {c: a[0] for c, a in split.items()}
    assert by_alignment(full, base, {c: a[1] for c, a in split.items()})[0] == base


def _catalog_with_an_adapter(path) -> Catalog:
    catalog = Catalog(path)
    for model_id, kind, family in (("org/root", "model", "org/root"), ("org/ft", "model", "org/root"),
                                   ("org/adapter", "adapter", "org/root")):
        catalog.con.execute("INSERT INTO models (id, revision, source, kind, status, family, indexed_at) "
                            "VALUES (?, 'r1', 'local', ?, 'indexed', ?, now())", [model_id, kind, family])
    catalog.set_base("org/adapter", "org/root", "org/root", BaseSource.GRADIENT, 0.0)
    return catalog


def test_the_lineage_update_decides_an_adapters_base_again_from_the_stored_facts(tmp_path):
    # The bases stage stored what it measured (a rule of an older hubindex kept the root); the decision is taken
    # again from those facts alone: the finetune wins on all passages and with each left out, so it is the base.
    with _catalog_with_an_adapter(tmp_path / "c.duckdb") as catalog:
        facts = [Fact("org/root", True, 0.4, 0.1, 0.10, (0.10, 0.11, 0.09)),
                 Fact("org/ft", False, 0.2, 0.5, 0.14, (0.13, 0.15, 0.14)),
                 Fact("org/gone", False, 0.1, 0.1, 0.5, (0.5, 0.5, 0.5))]  # no longer in the catalog: not a base
        adapter_choice.store(catalog, "org/adapter", "r1", facts)
        assert adapter_choice.stored(catalog) == {("org/adapter", "r1"): sorted(facts, key=lambda f: f.candidate)}
        assert adapter_choice.redecide(catalog) == {"org/adapter": ("org/ft", pytest.approx(0.14 / 0.14 - 0.10 / 0.14))}
        row = catalog.require("org/adapter")
        assert (row["base"], row["family"], row["base_source"]) == ("org/ft", "org/root", BaseSource.GRADIENT)
        assert row["base_alignment"] == 0.14  # kept for the confidence
        assert adapter_choice.redecide(catalog) == {}  # decided: nothing moves on the next update
        assert adapter_choice.weights_choices(catalog) == {"org/adapter": "org/root"}  # for the confidence


def test_an_adapter_without_facts_of_its_revision_keeps_its_stored_base(tmp_path):
    # A catalog indexed before the facts were kept, or facts of another revision of the adapter: nothing to decide.
    with _catalog_with_an_adapter(tmp_path / "c.duckdb") as catalog:
        assert adapter_choice.redecide(catalog) == {}
        adapter_choice.store(catalog, "org/adapter", "r0", [Fact("org/ft", False, alignment=0.3)])
        assert adapter_choice.redecide(catalog) == {}
        assert catalog.require("org/adapter")["base"] == "org/root"
        adapter_choice.store(catalog, "org/adapter", "r0", [Fact("org/ft", True, alignment=0.3)])
        assert adapter_choice.weights_choices(catalog) == {}  # facts of another revision say nothing of this one


def test_the_bases_stage_keeps_the_weights_scores_and_alignments_of_every_candidate():
    from hubindex.indexer.jobs import BasesJob, BasesResult
    from hubindex.indexer.stages import adapter_facts

    job = BasesJob(model_id="org/adapter", revision="r1", folder=None, kind="adapter", method="m",
                   candidates={"org/root": None, "org/ft": None, "org/broken": None}, family="org/root",
                   base="org/root", source="weights", scores={"org/root": (0.4, 0.0), "org/ft": (0.2, 0.5)})
    result = BasesResult(job=job, ok=True, alignments={"org/root": 0.1, "org/ft": 0.14},
                         held_out={"org/root": [0.1, 0.11, 0.09], "org/ft": [0.13, 0.15, 0.14]},
                         simulated={"org/root": 0.2, "org/ft": 0.4})
    facts = {f.candidate: f for f in adapter_facts(job, result)}
    assert facts["org/root"] == Fact("org/root", True, 0.4, 0.0, 0.1, (0.1, 0.11, 0.09), 0.2)
    assert facts["org/ft"] == Fact("org/ft", False, 0.2, 0.5, 0.14, (0.13, 0.15, 0.14), 0.4)
    assert facts["org/broken"] == Fact("org/broken")  # did not load: shortlisted, nothing measured
    assert adapter_choice.decide(list(facts.values()))[0] == "org/ft"


def test_a_margin_the_gradient_gives_with_a_weak_alignment_counts_less():
    # The chosen base aligns 0.04: the first LoRA step predicts little of the trained B, so a 0.24 margin over the
    # runner-up (design seed 111, a recipes adapter given a look-alike root at raw confidence 0.95) is noise.
    weak = confidence.adapter(BaseSource.GRADIENT, 0.24, True, 0.04)
    strong = confidence.adapter(BaseSource.GRADIENT, 0.24, True, 0.3)
    assert confidence.ADAPTER_TIED <= weak < 0.65 < strong == confidence.adapter(BaseSource.GRADIENT, 0.24)


def test_the_simulated_steps_decide_among_the_candidates_the_first_step_does_not_separate():
    # The first step puts the root (the weights' choice) first, but the finetune and the root's sibling are not
    # beaten with every passage left out; among those three the simulated Adam steps decide. A candidate beaten
    # on every subset ("other") stays out whatever its simulated alignment.
    facts = [Fact("root", True, alignment=0.040, held_out=(0.044, 0.027, 0.042), simulated=0.10),
             Fact("ft", alignment=0.027, held_out=(0.046, 0.009, 0.036), simulated=0.13),
             Fact("sibling", alignment=0.030, held_out=(0.031, 0.024, 0.045), simulated=0.11),
             Fact("other", alignment=0.010, held_out=(0.011, 0.008, 0.012), simulated=0.50)]
    base, margin = adapter_choice.decide(facts)
    assert base == "ft" and margin == pytest.approx((0.13 - 0.11) / 0.13)
    # Where the first step separates its choice from every other candidate, it decides alone.
    clear = [Fact("root", True, alignment=0.30, held_out=(0.30, 0.29, 0.31), simulated=0.1),
             Fact("ft", alignment=0.10, held_out=(0.1, 0.1, 0.1), simulated=0.6)]
    assert adapter_choice.decide(clear)[0] == "root"
    # Beaten on every subset but within the near-tie share (design seed 113: a legal adapter on a chain member whose
    # parent aligns 2-4 % better with each passage left out): not separated, the simulated steps decide.
    near = [Fact("parent", alignment=0.412, held_out=(0.400, 0.409, 0.386), simulated=0.55),
            Fact("member", alignment=0.395, held_out=(0.396, 0.387, 0.369), simulated=0.59)]
    assert adapter_choice.decide(near)[0] == "member"
    # Facts without simulated alignments (an older bases stage) decide by the first step.
    older = [Fact(f.candidate, f.preferred, alignment=f.alignment, held_out=f.held_out) for f in facts]
    assert adapter_choice.decide(older)[0] == "root"


def test_a_catalog_without_adapter_facts_gets_them_from_the_bases_stage_alone(tiny_catalog, tiny_zoo, tmp_path):
    # A catalog indexed before the facts were kept, its cards stripped (the weights shortlist the adapter's bases):
    # the facts are measured from the model folders the catalog records (no fingerprint or embedding runs), and the
    # base is decided from them as an indexing run decides it. Measured once: a second pass has nothing to do.
    # One adapter (`--adapter`): each costs a model load and a few passes per shortlisted candidate.
    import jsonschema
    from click.testing import CliRunner

    from cli.main import cli
    from hubindex.schemas import schema_for
    from tests.server import copy_catalog

    truth = load_truth(tiny_zoo)
    adapter = min(m for m, e in truth.items() if e["relation"] == "adapter")
    db = copy_catalog(tiny_catalog, tmp_path)
    with Catalog(db) as catalog:
        catalog.con.execute("UPDATE models SET adapter_base = NULL, declared_base = NULL")
        assert adapter_choice.stored(catalog) == {}
        before = catalog.require(adapter)["base"]

    def remeasure() -> dict:
        run = CliRunner().invoke(cli, ["remeasure-bases", "--db", str(db), "--adapter", adapter, "--json"])
        assert run.exit_code == 0, run.output
        answer = json.loads(run.stdout)
        jsonschema.validate(answer, schema_for("remeasured_bases"))
        return answer

    answer = remeasure()
    assert (answer["measured"], answer["failed"], [e["adapter"] for e in answer["adapters"]]) == (1, 0, [adapter])
    (entry,) = answer["adapters"]
    with Catalog(db) as catalog:
        row = catalog.require(adapter)
        facts = adapter_choice.stored(catalog)[(adapter, row["revision"])]
        assert len(facts) == entry["candidates"] > 1
        assert all(f.alignment is not None and f.simulated is not None for f in facts)
        assert (row["base"], row["base_source"]) == (truth[adapter]["parents"][0], BaseSource.GRADIENT)
        assert row["base_alignment"] == next(f.alignment for f in facts if f.candidate == row["base"])
        assert (entry["base_before"], entry["base"], entry["decided_by"], entry["alignment"], entry["margin"]) == \
            (before, row["base"], "gradient", row["base_alignment"], row["base_margin"])
    assert remeasure()["adapters"] == []


def test_remeasuring_an_id_that_is_not_an_adapter_names_it_and_measures_nothing(tmp_path):
    from hubindex.errors import HubindexError
    from hubindex.indexer.adapter_remeasure import remeasure_adapter_bases
    from tests.synthetic_catalog import write_catalog

    db = write_catalog(tmp_path / "synthetic.duckdb", 40)
    with Catalog(db) as catalog:
        adapter = catalog.con.execute("SELECT id FROM models WHERE kind = 'adapter' ORDER BY id").fetchone()[0]
        full = catalog.con.execute("SELECT id FROM models WHERE kind = 'model' ORDER BY id").fetchone()[0]
        with pytest.raises(HubindexError, match=", ".join(sorted(["org/typo", full]))):
            remeasure_adapter_bases(catalog, only={adapter, "org/typo", full})
        assert not adapter_choice.stored(catalog)  # nothing measured, nothing recorded
