"""Statistics of extracted layer activations: GAMMs (analysis.gamm), difference curves, mixed
models, tables, figures and the report. Reads extract.py's files only (no TensorFlow)."""
