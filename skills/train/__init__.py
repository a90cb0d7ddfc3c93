"""Training engine: TrainSpec + recipes, the worker (SFT/DPO with TRL + PEFT), adapter registry, hot-swap."""
