"""Training: tiny base models, full and LoRA finetunes, streaming merges. Outputs are standard HF folders."""
