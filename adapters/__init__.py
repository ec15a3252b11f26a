"""Fine-tuning: training data, LoRA training (its own process) and the adapter registry."""
