"""Delta Activations: a finetuned model as the shift of its activations on fixed probes relative to its base."""
