"""Synthetic data with planted truth, for the tests and the benchmarks (no model, no analysis).

* :mod:`synthetic.activations`: activations folders and tables (extract.py's columns) with
  planted word effects on one layer, at any scale;
* :mod:`synthetic.planted`: phone_activations tables with planted phone contrasts per layer,
  and activations with a planted periodicity (the spectra);
* :mod:`synthetic.designs`: phone_activations tables with the structure real data have
  (phones inside words, words and speakers as random factors, AR1 noise), for the
  calibration study of the tests' p-values (bench/calibration.py, docs/calibration.md).

tests/ and bench/ both import these; they import only :mod:`common` (and the activations
schema, lazily, to write Parquet).
"""
