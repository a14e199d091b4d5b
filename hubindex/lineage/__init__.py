"""Lineage from the weights: parents, relation and confidence for every indexed model."""
