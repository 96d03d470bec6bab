"""The folders one stage writes and the next reads, their file names in one place.

A prepared dataset (prepare.py -> train.py, extract.py; docs/CONVENTIONS.md):

    dataset.json        format_version, sample_rate, slice_len, words, splits, shards
    manifest.csv        one row per token: token_id, word, speaker, split, shard, ...
    phones.csv          one row per phone interval of a token
    tfrecords/<split>-NNNNN-of-MMMMM.tfrecord   the shards (corpus.slicing.shard_paths)

An activations folder (extract.py -> analyze.py):

    <stem>.parquet (+ <stem>.csv)   the long tables, one row per (token, layer, sample):
        activations          channel means after the activation, per conv layer
        phone_activations    the same inside each wanted phone interval (--phones)
        upsampled            each layer's trace upsampled to the input (--upsample)
        channel_activations  every channel, not averaged (--channels)
    q_outputs.csv / d_outputs.csv    Q's (or D's) outputs per token
    confusion.csv                    Q's code per word: counts (rows word, columns code)
    classification.json              accuracy, mapping, permutation baseline
    extract_info.json                the run: checkpoint, layers (jump, centre0), sample rate

generate.py's folder holds ``generated.csv`` (one row per clip: code, Q's code, q_agrees).
"""

# ------------------------------------------------------------------ prepared dataset
DATASET_JSON = "dataset.json"
MANIFEST_CSV = "manifest.csv"
PHONES_CSV = "phones.csv"
DATASET_FORMAT_VERSION = 1  # dataset.json's format_version that this code writes and reads

# ------------------------------------------------------------------ activations folder
ACTIVATIONS = "activations"
PHONE_ACTIVATIONS = "phone_activations"
UPSAMPLED = "upsampled"
CHANNEL_ACTIVATIONS = "channel_activations"

Q_OUTPUTS_CSV = "q_outputs.csv"
D_OUTPUTS_CSV = "d_outputs.csv"
CONFUSION_CSV = "confusion.csv"
CLASSIFICATION_JSON = "classification.json"
EXTRACT_INFO_JSON = "extract_info.json"

# ------------------------------------------------------------------ generated audio
GENERATED_CSV = "generated.csv"
