"""Hub crawler: huggingface_hub as the source, metadata-first listing, partial fingerprints by HTTP range reads."""
