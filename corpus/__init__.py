"""Corpus stage: TIMIT (and folder) reading, token slicing, TFRecords, the input pipeline and
the synthetic festival demo corpus. See docs/data.md and docs/CONVENTIONS.md.

Each fact has one home: the shared defaults (sample rate, slice length, default words) are in
:mod:`common.constants`, the errors in :mod:`corpus.corpus_errors`.  TensorFlow is imported lazily:
only ``corpus.tfrecords`` and ``corpus.dataset`` need it.
"""
