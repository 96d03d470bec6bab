"""TF1 checkpoint import: the fixture's outputs, config inference for every variant, errors."""


import numpy as np
import pytest
import tensorflow as tf

from wavegan import CheckpointError, WaveGANConfig, build_models, load_models
from wavegan.tf1_checkpoint import (generator_links, infer_config, load_tf1_checkpoint,
                                    read_variable_shapes,
                                    save_tf1_checkpoint)

ATOL = 1e-5  # the fixture README's forward tolerance


@pytest.fixture(scope="module")
def fixture_models(tf1_dim8):
    config, G, D, Q, _ = load_models(str(tf1_dim8 / "model.ckpt-3"))
    ref = dict(np.load(tf1_dim8 / "reference.npz"))
    return config, G, D, Q, ref


def test_fixture_config_inferred(fixture_models):
    config = fixture_models[0]
    assert config == WaveGANConfig(model="ciwgan", num_categ=8, dim=8, slice_len=16384,
                                   batchnorm=False, upsample="zeros", genr_pp=False)


def test_fixture_generator_and_its_layers(fixture_models):
    _, G, _, _, ref = fixture_models
    outs = G.layer_outputs(tf.constant(ref["z"]), training=False)
    np.testing.assert_allclose(outs["output"].numpy()[:, :, 0], ref["G_z"], atol=ATOL)
    for ours, theirs in [("z_project", "g_z_project")] + [
            (f"upconv{i}", f"g_upconv{i}") for i in range(5)]:
        np.testing.assert_allclose(outs[ours], ref[theirs], atol=ATOL, err_msg=ours)


def test_fixture_discriminator_and_q_outputs(fixture_models):
    _, _, D, Q, ref = fixture_models
    np.testing.assert_allclose(D(ref["x"]), ref["D_x"], atol=ATOL)
    np.testing.assert_allclose(D(ref["G_z"]), ref["D_G_z"], atol=ATOL)
    np.testing.assert_allclose(Q(ref["x"]), ref["Q_x"], atol=ATOL)
    np.testing.assert_allclose(Q(ref["G_z"]), ref["q_on_G_z"], atol=ATOL)


@pytest.mark.parametrize("net,prefix", [("D", "d"), ("Q", "q")])
def test_fixture_every_layer_and_channel_average(fixture_models, net, prefix):
    _, _, D, Q, ref = fixture_models
    outs = {"D": D, "Q": Q}[net].layer_outputs(ref["x"])
    for k in range(1, 6):
        got = outs[f"conv{k}"].numpy()
        np.testing.assert_allclose(got, ref[f"{prefix}_conv{k}"], atol=ATOL)
        np.testing.assert_allclose(got.mean(-1), ref[f"{prefix}_avg_conv{k}"], atol=ATOL)
    if net == "Q":
        np.testing.assert_allclose(outs["logits"], ref["Q_x"], atol=ATOL)


VARIANTS = [
    WaveGANConfig(model="fiwgan", num_categ=13, dim=3, batchnorm=True, genr_pp=True),
    WaveGANConfig(model="ciwgan", num_categ=5, dim=2, upsample="nn", slice_len=32768),
    WaveGANConfig(model="wavegan", dim=2, slice_len=65536, genr_pp=True, genr_pp_len=64),
    WaveGANConfig(model="ciwgan", num_categ=4, dim=2, num_channels=2, kernel_len=9),
]


@pytest.mark.parametrize("cfg", VARIANTS, ids=lambda c: f"{c.model}-{c.slice_len}-{c.upsample}")
def test_every_variant_roundtrips_with_config_inferred(tmp_path, cfg):
    G, D, Q = build_models(cfg)
    prefix = save_tf1_checkpoint(str(tmp_path / "model.ckpt-7"), G, D, Q, global_step=7)
    shapes = read_variable_shapes(prefix)
    # What the variables cannot say comes from hints; everything else is inferred.
    hints = {"model": cfg.model} if cfg.model == "fiwgan" else {}
    if cfg.slice_len != 16384:
        hints["slice_len"] = cfg.slice_len
    assert infer_config(shapes, prefix, hints) == cfg
    config2, G2, D2, Q2, _ = load_models(prefix, model=cfg.model, slice_len=cfg.slice_len)
    assert config2 == cfg
    z = tf.random.uniform([2, cfg.latent_dim], -1, 1)
    x = G(z, training=False)
    np.testing.assert_array_equal(G2(z, training=False), x)
    np.testing.assert_array_equal(D2(x), D(x))
    if Q is not None:
        np.testing.assert_array_equal(Q2(x), Q(x))


def test_hints_beside_checkpoint(tmp_path):
    cfg = WaveGANConfig(model="fiwgan", num_categ=3, dim=2, slice_len=65536)
    G, D, Q = build_models(cfg)
    prefix = save_tf1_checkpoint(str(tmp_path / "model.ckpt-1"), G, D, Q)
    # The original writes args.txt ("key,value" lines); a README may name the model.
    (tmp_path / "args.txt").write_text("data_slice_len,65536\nwavegan_disc_phaseshuffle,0\n")
    (tmp_path / "README.md").write_text("- model: fiwGAN (train_fiwgan.py)\n")
    config, *_ = load_models(prefix)
    assert config == cfg.replace(phaseshuffle_rad=0)


def test_mismatched_checkpoint_names_the_variables(tmp_path, tf1_dim8):
    prefix = str(tf1_dim8 / "model.ckpt-3")
    with pytest.raises(CheckpointError, match=r"G/upconv_0/conv2d_transpose/kernel.*\(1, 25, 64, 128\)"):
        load_tf1_checkpoint(prefix, config=WaveGANConfig(num_categ=8, dim=4))
    with pytest.raises(CheckpointError, match="batch_normalization"):
        load_tf1_checkpoint(prefix, config=WaveGANConfig(num_categ=8, dim=8, batchnorm=True))


def test_bad_paths_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_models(str(tmp_path / "nothing"))
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        load_models(str(tmp_path))
    # A checkpoint that is not the original's layout.
    v = tf.Variable(tf.zeros([3]))
    prefix = tf.train.Checkpoint(v=v).write(str(tmp_path / "other"))
    with pytest.raises(CheckpointError, match="config.json"):
        load_models(prefix)


def test_generator_only_checkpoint_loads_g(tmp_path):
    """The original's infer() saver writes G's variables and global_step only."""
    cfg = WaveGANConfig(model="wavegan", dim=2)
    G, D, _ = build_models(cfg)
    links = generator_links(G)
    names = [l.tf1_name for l in links] + ["global_step"]
    tensors = [tf.reshape(tf.convert_to_tensor(l.variable), l.tf1_shape) for l in links]
    tensors.append(tf.constant(5, tf.int64))
    prefix = str(tmp_path / "model.ckpt-5")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=tensors)
    config, G2, D2, Q2, _ = load_models(prefix)
    assert D2 is None and Q2 is None and config == cfg
    z = tf.random.uniform([1, 100], -1, 1)
    np.testing.assert_array_equal(G2(z), G(z))


def test_copied_run_folder_with_foreign_checkpoint_file(tmp_path, tf1_dim8):
    """A run folder copied from another machine: its 'checkpoint' file names absolute paths
    that do not exist here; the folder still resolves to its latest checkpoint."""
    import shutil
    for f in ("model.ckpt-3.index", "model.ckpt-3.data-00000-of-00001"):
        shutil.copy(tf1_dim8 / f, tmp_path / f)
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "/home/someone/train/model.ckpt-3"\n'
        'all_model_checkpoint_paths: "/home/someone/train/model.ckpt-3"\n')
    config, *_ = load_models(str(tmp_path))
    assert config.dim == 8


def test_tf1_folder_takes_the_newest_readable_checkpoint(tmp_path, caplog):
    """A TF1 run folder without its 'checkpoint' pointer: the numbered model.ckpt-N files are
    found, newest first; a truncated newest one is skipped with one warning and left alone."""
    import logging
    import os

    from wavegan.checkpoint_files import resolve_readable_prefix

    cfg = WaveGANConfig(model="wavegan", dim=2)
    z = tf.random.uniform([2, cfg.latent_dim], -1, 1, seed=5)
    outputs = {}
    for step in (1, 2):
        G, D, _ = build_models(cfg)
        save_tf1_checkpoint(str(tmp_path / f"model.ckpt-{step}"), G, D, global_step=step)
        outputs[step] = G(z, training=False).numpy()
    assert not np.array_equal(outputs[1], outputs[2])
    assert not (tmp_path / "checkpoint").exists()
    _, G, _, _, _ = load_models(str(tmp_path))
    np.testing.assert_array_equal(G(z, training=False), outputs[2])

    data = tmp_path / "model.ckpt-2.data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    truncated = data.read_bytes()
    with caplog.at_level(logging.WARNING):
        _, G, _, _, _ = load_models(str(tmp_path))
    np.testing.assert_array_equal(G(z, training=False), outputs[1])
    warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and "model.ckpt-2 " in warnings[0]
    assert data.read_bytes() == truncated and not (tmp_path / "checkpoint").exists()
    with pytest.raises(CheckpointError, match="model.ckpt-2: the checkpoint cannot be read"):
        load_models(str(tmp_path / "model.ckpt-2"))
    os.remove(tmp_path / "model.ckpt-1.index")
    with pytest.raises(CheckpointError, match=r"no readable checkpoint \(model.ckpt-2: "):
        resolve_readable_prefix(str(tmp_path))


def test_load_models_returns_the_prefix_it_loaded_reading_each_checkpoint_once(
        tmp_path, monkeypatch):
    """One resolution per load (no cache between calls): a folder's newest checkpoint is read
    once to check it, and the prefix returned is the one loaded."""
    cfg = WaveGANConfig(model="wavegan", dim=2)
    for step in (1, 2):
        G, D, _ = build_models(cfg)
        save_tf1_checkpoint(str(tmp_path / f"model.ckpt-{step}"), G, D, global_step=step)
    reads = []
    original = tf.train.load_checkpoint
    monkeypatch.setattr(tf.train, "load_checkpoint",
                        lambda prefix: reads.append(prefix) or original(prefix))
    loaded = load_models(str(tmp_path))
    assert loaded.prefix == str(tmp_path / "model.ckpt-2")
    # one read to check the newest (model.ckpt-1 is never opened), one to load its weights
    assert reads == [loaded.prefix, loaded.prefix]
    reads.clear()
    assert load_models(str(tmp_path / "model.ckpt-1.index")).prefix == \
        str(tmp_path / "model.ckpt-1")
    assert reads == [str(tmp_path / "model.ckpt-1")] * 2


def test_exact_numerics_can_be_requested_before_tensorflow_is_imported():
    """wavegan.runtime imports without TensorFlow, so request_exact_numerics() acts before
    TensorFlow starts (oneDNN off, one thread) instead of warning that it came too late."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, os, warnings\n"
            "warnings.simplefilter('error')\n"
            "import wavegan.runtime as r\n"
            "assert 'tensorflow' not in sys.modules\n"
            "r.request_exact_numerics()\n"
            "import tensorflow as tf\n"
            "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], "
            "tf.config.threading.get_intra_op_parallelism_threads(), "
            "tf.config.threading.get_inter_op_parallelism_threads())\n")
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["0", "1", "1"]
