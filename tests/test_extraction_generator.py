"""--network=G: G's own block traces for generated tokens (extraction/, extract.py).

References are computed independently: z rebuilt from the documented recipe (one-hot code +
uniform(-1, 1) noise from numpy RandomState(seed), the noise rows shared across codes as
generate.py shares them), then ``G.layer_outputs(z)`` channel means taken eagerly in numpy.
"""

import json
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

tf = pytest.importorskip("tensorflow")
wavegan = pytest.importorskip("wavegan")

from common.outputs import MARKER_NAME  # noqa: E402
from extraction.extraction_errors import ExtractionError  # noqa: E402
from extraction.run import run_extraction  # noqa: E402
from extraction.schema import ACTIVATION_SCHEMA  # noqa: E402
from extraction.sources import ArraySource, GeneratedSource  # noqa: E402
from extraction_helpers import tiny_ciwgan_models  # noqa: E402

L = 16384
SEED = 3
# G block lengths of a 16384-sample model: 16 * 4**i.
LENGTHS = {"z_project": 16, "upconv0": 64, "upconv1": 256, "upconv2": 1024, "upconv3": 4096,
           "upconv4": 16384}
ACT_DTYPES = {"token_id": "int64", "word": "object", "speaker": "object", "layer": "object",
              "sample": "int64", "time": "float64", "value": "float64"}


@pytest.fixture(scope="module")
def models():
    return tiny_ciwgan_models(11)


def reference_z(config, codes, n_per_code, seed, value=1.0):
    """z [len(codes) * n_per_code, latent_dim], built by hand from the documented recipe:
    token i * n_per_code + j = [one-hot code i * value, noise row j] (noise shared by codes)."""
    n = len(codes) * n_per_code
    noise = np.random.RandomState(seed).uniform(-1, 1, (n_per_code,
                                                        config.latent_dim - config.num_categ))
    onehot = np.zeros((n, config.num_categ), np.float32)
    for i in range(n):
        onehot[i, codes[i // n_per_code]] = value
    return np.concatenate([onehot, noise[np.arange(n) % n_per_code].astype(np.float32)], axis=1)


def test_generator_traces_match_layer_outputs(tmp_path, models):
    config, G, _, _ = models
    src = GeneratedSource(G, config, ["2", "0"], n_per_code=2, batch_size=3, seed=SEED)
    info = run_extraction(G, config, src, str(tmp_path / "g"), network="G", progress=False)
    act = pd.read_parquet(tmp_path / "g" / "activations.parquet")

    # schema identical to the Q table (Parquet and CSV)
    assert pq.read_schema(tmp_path / "g" / "activations.parquet").equals(
        ACTIVATION_SCHEMA, check_metadata=False)
    assert act.dtypes.astype(str).to_dict() == ACT_DTYPES
    csv = pd.read_csv(tmp_path / "g" / "activations.csv")
    assert list(csv.columns) == list(ACT_DTYPES)
    assert len(csv) == len(act)

    # layer names, order, row counts: sum of block lengths per token
    assert list(dict.fromkeys(act.layer)) == list(LENGTHS)
    assert len(act) == 4 * sum(LENGTHS.values())
    assert info["counts"]["rows"]["activations"] == len(act)
    assert act.groupby(["token_id", "layer"]).size().unstack().eq(
        pd.Series(LENGTHS)).all().all()
    assert (act.speaker == "generated").all()
    assert act.groupby("token_id").word.first().tolist() == ["code_2", "code_2", "code_0",
                                                             "code_0"]

    # values: eager channel means of G.layer_outputs with the same z, every token
    z = reference_z(config, [2, 0], 2, SEED)
    outs = G.layer_outputs(tf.constant(z), training=False)
    for name, length in LENGTHS.items():
        ref = outs[name].numpy().mean(axis=-1)                     # [4, length]
        got = act[act.layer == name].sort_values(["token_id", "sample"])
        np.testing.assert_allclose(got.value.to_numpy().reshape(4, length), ref,
                                   atol=1e-6, rtol=1e-5, err_msg=name)
        tok0 = got[got.token_id == 0]
        np.testing.assert_array_equal(tok0["sample"].to_numpy(), np.arange(length))
        # time = (sample + 0.5) * (slice_len / length) / 16000
        np.testing.assert_allclose(tok0.time.to_numpy(),
                                   (np.arange(length) + 0.5) * (L / length) / 16000)
    # last block is the audio G produces
    np.testing.assert_allclose(
        act[(act.layer == "upconv4") & (act.token_id == 1)].value.to_numpy(),
        G(z[1:2], training=False).numpy().reshape(-1), atol=1e-6)

    # hand-checked time values: z_project index 0 centres 512 output samples in
    assert act[(act.layer == "z_project") & (act["sample"] == 0)].time.iloc[0] == 512 / 16000
    assert act[(act.layer == "upconv4") & (act["sample"] == 3)].time.iloc[0] == 3.5 / 16000

    # no network outputs; info describes G's blocks
    assert info["files"] == ["activations.csv", "activations.parquet", "extract_info.json"]
    assert info["network"] == "G" and info["normalize"] is None
    with open(tmp_path / "g" / "extract_info.json") as f:
        saved = json.load(f)
    assert [e["name"] for e in saved["layers"]] == list(LENGTHS)
    assert saved["layers"][0] == {"name": "z_project", "length": 16, "channels": 32,
                                  "jump": 1024.0, "centre0": 512.0}
    assert "sample + 0.5" in saved["time_formula"]


def test_generator_layer_subset(tmp_path, models):
    config, G, _, _ = models
    src = GeneratedSource(G, config, None, n_per_code=1, batch_size=8, seed=0)
    run_extraction(G, config, src, str(tmp_path / "g"), network="G", progress=False,
                      layers="upconv1,z_project", csv=False)
    act = pd.read_parquet(tmp_path / "g" / "activations.parquet")
    assert list(dict.fromkeys(act.layer)) == ["z_project", "upconv1"]
    assert len(act) == 3 * (16 + 256)
    assert sorted(os.listdir(tmp_path / "g")) == [MARKER_NAME, "activations.parquet",
                                                  "extract_info.json"]


@pytest.mark.parametrize("kw, match", [
    ({"phones": ["s"]}, "--phones does not apply to --network=G"),
    ({"upsample": True}, "--upsample does not apply to --network=G"),
    ({"channels": "upconv0:0"}, "--channels does not apply to --network=G"),
    ({"layers": "conv1"}, r"unknown layer\(s\) \['conv1'\]; available: \['z_project'"),
])
def test_generator_bad_flags(tmp_path, models, kw, match):
    config, G, _, _ = models
    src = GeneratedSource(G, config, ["1"], n_per_code=1, batch_size=2)
    with pytest.raises(ExtractionError, match=match):
        run_extraction(G, config, src, str(tmp_path / "x"), network="G", progress=False,
                          **kw)
    assert not os.path.exists(tmp_path / "x")
    assert os.listdir(tmp_path) == []


def test_generator_needs_generated_source(tmp_path, models):
    config, G, _, _ = models
    src = ArraySource(np.zeros((2, L), np.float32), ["a", "b"])
    with pytest.raises(ExtractionError, match="--network=G needs --codes"):
        run_extraction(G, config, src, str(tmp_path / "x"), network="G", progress=False)
    with pytest.raises(ExtractionError, match="expected Q, D or G"):
        run_extraction(G, config, src, str(tmp_path / "x"), network="X", progress=False)


def test_cli_network_g(tmp_path, models, capsys):
    """extract.py in-process on a TF1-format checkpoint of the same models."""
    from extraction_helpers import extract_command
    from wavegan.tf1_checkpoint import save_tf1_checkpoint

    config, G, D, Q = models
    (tmp_path / "run").mkdir()   # the outputs go beside the run's folder, never inside it
    prefix = save_tf1_checkpoint(str(tmp_path / "run" / "model.ckpt-1"), G, D, Q)
    out = tmp_path / "act"

    def run(*args):
        return extract_command(f"--checkpoint={prefix}", "--model=ciwgan", "--noprogress",
                               *args)

    assert run("--network=G", "--codes=1", "--n_per_code=2", "--seed=4",
               f"--out={out}", "--nocsv") == 0
    assert "2 tokens, 1 words, 43680 activation rows" in capsys.readouterr().out
    act = pd.read_parquet(out / "activations.parquet")
    z = reference_z(config, [1], 2, 4)
    ref = G.layer_outputs(tf.constant(z), training=False)["upconv2"].numpy().mean(-1)
    np.testing.assert_allclose(act[act.layer == "upconv2"].value.to_numpy().reshape(2, 1024),
                               ref, atol=1e-6, rtol=1e-5)

    assert run("--network=G", f"--out={tmp_path / 'b'}", f"--data={tmp_path}") == 2
    assert "--network=G needs --codes" in capsys.readouterr().err
    assert run("--network=G", "--codes=0", "--upsample",
               f"--out={tmp_path / 'c'}") == 2
    assert "--upsample does not apply to --network=G" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "b") and not os.path.exists(tmp_path / "c")


def test_cli_deprecated_generate_flags(tmp_path, models, capsys):
    """--generate_codes/--generate_per_code/--generate_value still work (one-line notice each)
    as the old names of --codes/--n_per_code/--value; both names disagreeing is refused."""
    from extraction_helpers import extract_command
    from wavegan.tf1_checkpoint import save_tf1_checkpoint

    config, G, D, Q = models
    (tmp_path / "run").mkdir()   # the outputs go beside the run's folder, never inside it
    prefix = save_tf1_checkpoint(str(tmp_path / "run" / "model.ckpt-1"), G, D, Q)

    def run(*args):
        return extract_command(f"--checkpoint={prefix}", "--model=ciwgan", "--noprogress",
                               "--network=G", "--layers=z_project", "--nocsv", *args)

    out = tmp_path / "old"
    assert run("--generate_codes=code_2,0", "--generate_per_code=2", "--generate_value=3",
               "--seed=1", f"--out={out}") == 0
    err = capsys.readouterr().err
    for old, new in (("generate_codes", "codes"), ("generate_per_code", "n_per_code"),
                     ("generate_value", "value")):
        assert f"--{old} is deprecated; use --{new}" in err
    act = pd.read_parquet(out / "activations.parquet")
    assert act.groupby("token_id").word.first().tolist() == ["code_2", "code_2", "code_0",
                                                             "code_0"]
    z = reference_z(config, [2, 0], 2, 1, value=3.0)
    ref = G.layer_outputs(tf.constant(z), training=False)["z_project"].numpy().mean(-1)
    np.testing.assert_allclose(act.value.to_numpy().reshape(4, 16), ref, atol=1e-6, rtol=1e-5)

    assert run("--generate_codes=1", "--codes=2", f"--out={tmp_path / 'x'}") == 2
    assert "--generate_codes=['1'] and --codes=['2'] disagree" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")
