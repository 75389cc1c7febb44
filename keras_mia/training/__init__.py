"""Training: recipes' typed configuration, the model.fit engine, run folders."""
