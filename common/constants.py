"""Defaults every stage shares.  A run reads the actual values from its inputs (a dataset's
``dataset.json``, a model's ``config.json``); these are the defaults when there is none.
"""

# The original WaveGAN / ciwGAN audio: 16 kHz, 16384-sample slices (~1.02 s).
SAMPLE_RATE = 16000
SLICE_LEN = 16384

# TIMIT's SA1/SA2 words that the paper's first experiment uses ("She had your dark suit in
# greasy wash water all year. Don't ask me to carry an oily rag like that.").
DEFAULT_WORDS = ("ask", "dark", "greasy", "oily", "rag", "wash", "water", "year")

# TIMIT's non-speech labels (utterance edges, pauses, epenthetic silence): left out when every
# phone is asked for (extract.py --phones=all).
NON_SPEECH_PHONES = ("h#", "pau", "epi")
