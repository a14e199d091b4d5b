"""JSON Schemas of every JSON answer, exported from the pydantic models into `schemas/`.

`python -m hubindex.schemas` rewrites the files; a test fails when they drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel, RootModel

from hubindex.atlas.answers import AtlasForest, AtlasMap
from hubindex.catalog.answers import ModelPage, ModelView, Reindexed, SearchHit, SimilarHit
from hubindex.evaluate.embedding import EmbeddingEval
from hubindex.evaluate.merging import MergeEval
from hubindex.hub.crawl import CrawlReport
from hubindex.indexer.adapter_remeasure import RemeasuredBases
from hubindex.indexer.pipeline import IndexReport
from hubindex.indexer.progress import JobsAnswer, RunProgress
from hubindex.lineage.answers import LineageEntry, LineageTree, ParentCandidate
from hubindex.merge_candidates.answers import MergeCandidates
from hubindex.search_by_examples import ExamplesQuery
from hubindex.service_answers import ErrorBody, Health, JobRequest, JobStatus
from hubindex.train.answers import MergedModel, TrainedModel
from hubindex.train.merge.recipe import MergeRecipe
from hubindex.zoo.answers import DomainsAnswer, ZooBuilt
from hubindex.zoo.cards import PlantedCards
from hubindex.zoo.summary import TruthEntry, ZooSummary


class Truth(RootModel[dict[str, TruthEntry]]):
    """truth.json: model id -> its known parents, relation, domain and family."""


class LineageAnswer(RootModel[list[LineageEntry]]):
    """`hubindex lineage --json`: one entry per indexed model."""


class ParentsAnswer(RootModel[list[ParentCandidate]]):
    """`hubindex parents MODEL --json`: ranked candidates, the chosen parents first."""


class SimilarAnswer(RootModel[list[SimilarHit]]):
    """`hubindex similar --json`: nearest models, best first, the query model excluded."""


class ExamplesSearchAnswer(RootModel[list[SimilarHit]]):
    """`hubindex search --examples FILE --json`, `POST /search/examples`: models nearest to the task, best first."""


class SearchAnswer(RootModel[list[SearchHit]]):
    """`hubindex search --json`, `GET /search`: models holding every query term, best first."""


ANSWERS: dict[str, type[BaseModel]] = {
    "zoo_summary": ZooSummary,
    "truth": Truth,
    "merge_recipe": MergeRecipe,
    "index_report": IndexReport,
    "model_view": ModelView,
    "similar": SimilarAnswer,
    "embedding_eval": EmbeddingEval,
    "lineage": LineageAnswer,
    "lineage_tree": LineageTree,
    "parents": ParentsAnswer,
    "planted_cards": PlantedCards,
    "jobs": JobsAnswer,
    "run_progress": RunProgress,
    "model_page": ModelPage,
    "search": SearchAnswer,
    "health": Health,
    "error": ErrorBody,
    "job_request": JobRequest,
    "job_status": JobStatus,
    "merge_candidates": MergeCandidates,
    "merge_eval": MergeEval,
    "atlas_forest": AtlasForest,
    "atlas_map": AtlasMap,
    "examples_query": ExamplesQuery,
    "examples_search": ExamplesSearchAnswer,
    "crawl_report": CrawlReport,
    "trained_model": TrainedModel,
    "merged_model": MergedModel,
    "zoo_built": ZooBuilt,
    "domains": DomainsAnswer,
    "reindexed": Reindexed,
    "remeasured_bases": RemeasuredBases,
}
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def schema_for(name: str) -> dict:
    schema = ANSWERS[name].model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{name}.schema.json", **schema}


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ANSWERS:
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema_for(name), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in export(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(path)
