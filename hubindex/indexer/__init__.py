"""Indexing: find model folders, fingerprint them, assign families and bases, embed, and store in the catalog."""
