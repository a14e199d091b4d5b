"""Scoring the catalog against a zoo's truth.json."""
