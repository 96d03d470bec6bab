"""Extraction stage: feed tokens through Q (or D, or run G) and write the activations folder.

The modules, in the order a run uses them (``extraction.run.run_extraction``):

    sources         where tokens come from: a prepared dataset split, a folder of audio files
                    (corpus.folder's reader), audio G generates from codes, arrays in memory
    plan            every flag checked against the model and the data (layers, channels, phones)
    geometry        pure arithmetic: which input samples each layer index covers (stride and
                    'SAME' padding), interval -> layer indices, upsampling to the input axis
    forward         the tf.function forward passes (one per batch) and channel means
    schema          the columns of every table written and the builders of their rows
    writers         streaming Parquet/CSV writers, JSON
    classification  Q's confusion table, Hungarian accuracy and chance levels
    run             the streaming loop, the network outputs, extract_info.json

Imports point one way: extraction -> common, wavegan, ciwgan, corpus (never back).
TensorFlow is imported where a module needs it; importing this package imports nothing.
"""
