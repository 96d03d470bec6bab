"""Corpus stage: TIMIT (and folder) reading, token slicing, TFRecords, the input pipeline and
the synthetic festival demo corpus. See docs/data.md and docs/CONVENTIONS.md.

TensorFlow is imported lazily: only ``corpus.tfrecords`` and ``corpus.pipeline`` need it.
"""

from corpus.errors import (AudioReadError, CorpusError, DatasetExistsError,  # noqa: F401
                           DatasetIncompleteError, NoUsableDataError)

SAMPLE_RATE = 16000
SLICE_LEN = 16384
DEFAULT_WORDS = ("ask", "dark", "greasy", "oily", "rag", "wash", "water", "year")
