"""Analysis of trained models: extraction, classification, GAMMs, figures."""
