"""Training on real tasks with Lightning: `rnnzoo train`, `evaluate`, `predict`, `generate`."""
