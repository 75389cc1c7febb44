"""Small helpers shared across keras_mia (typed configuration)."""
