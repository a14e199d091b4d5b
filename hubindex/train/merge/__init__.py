"""Streaming model merges: linear, task arithmetic, TIES, DARE, SLERP, Breadcrumbs, Model Stock."""

from hubindex.train.merge.executor import merge, plan_merge
from hubindex.train.merge.methods import get_method, method_names
from hubindex.train.merge.recipe import MergeRecipe, load_recipe, parse_recipe

__all__ = ["MergeRecipe", "get_method", "load_recipe", "merge", "method_names", "parse_recipe", "plan_merge"]
