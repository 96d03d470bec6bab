"""README.md of a TF1 reference folder (tools/make_tf1_reference.py): the text is the template
``tf1_reference_readme.md`` beside this file; this module works out what goes into it.

The template is a series of blocks, each starting with a line ``@@ <name>``: ``readme`` (the
whole file) and the variants of the sentences that depend on the model (the latent sampler, the
Q network's outputs, batch norm, ...).  Blocks hold ``${name}`` placeholders
(:class:`string.Template`).  Plain Python with numpy only: it runs in the TF 2.15 environment of
the tool.
"""

from __future__ import annotations

import os
import string
import subprocess
from typing import Dict

import numpy as np

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf1_reference_readme.md")
MODEL_NAMES = {"ciwgan": "ciwGAN", "fiwgan": "fiwGAN", "wavegan": "WaveGAN"}
MODEL_LINES = {"ciwgan": "ciwGAN (train_ciwgan.py)", "fiwgan": "fiwGAN (train_fiwgan.py)",
               "wavegan": "WaveGAN (train_wavegan.py)"}
# The flags a README's regenerating command spells out, in that order.
REGENERATE_FLAGS = ("dim", "latent_dim", "kernel_len", "slice_len", "num_channels", "upsample",
                    "genr_pp_len", "phaseshuffle", "batch_size", "disc_nupdates", "iterations",
                    "seed")


def read_blocks(path: str = TEMPLATE) -> Dict[str, string.Template]:
    """{block name: Template} of the template file (each block without its trailing blank
    lines)."""
    blocks, name, lines = {}, None, []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line.startswith("@@ "):
                if name is not None:
                    blocks[name] = "\n".join(lines).rstrip("\n")
                name, lines = line[3:].strip(), []
            else:
                lines.append(line)
    if name is not None:
        blocks[name] = "\n".join(lines).rstrip("\n")
    return {k: string.Template(v) for k, v in blocks.items()}


def file_facts(path) -> str:
    """sha256 and, in a git clone, the commit: which original code made the reference."""
    import hashlib

    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    return f"`{os.path.basename(path)}` (sha256 {digest}…)"


def repo_commit(path) -> str:
    try:
        out = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return "not a git clone"
    return f"commit {out.stdout.strip()}" if out.returncode == 0 else "not a git clone"


def max_abs(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray], keys=None) -> float:
    keys = a.keys() if keys is None else keys
    return max((float(np.max(np.abs(np.asarray(a[k], np.float64) - b[k])))
                for k in keys if np.size(a[k])), default=0.0)


class ReadmeWriter:
    """README.md of a reference folder from the run's options, arrays and results."""

    def __init__(self, opts, tf, ref, step_ref, result, listed, self_check, train_command,
                 step_command, ckpt_name, builders_note, repo_flag, full_size):
        self.o, self.tf, self.ref, self.step_ref, self.result = opts, tf, ref, step_ref, result
        self.listed, self.self_check = listed, self_check
        self.train_command, self.step_command = train_command, step_command
        self.ckpt_name, self.builders_note = ckpt_name, builders_note
        self.repo_flag, self.full_size = repo_flag, full_size
        self.blocks = read_blocks()

    def write(self, folder):
        files = ["checkpoint", f"{self.ckpt_name}.data-00000-of-00001", f"{self.ckpt_name}.index",
                 "reference.npz", "step_reference.npz", "variables.txt"]
        sizes = {f: os.path.getsize(os.path.join(folder, f)) for f in files}
        with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
            f.write(self.render(sizes))

    def block(self, block_name: str, /, **values) -> str:
        """The template's block ``block_name`` with ``values`` in its placeholders."""
        return self.blocks[block_name].substitute(values)

    def render(self, sizes) -> str:
        o = self.o
        has_q = o.model != "wavegan"
        rows = [("model", MODEL_LINES[o.model])] + ([("num_categ", o.num_categ)] if has_q else [])
        rows += [(k, getattr(o, k)) for k in ("latent_dim", "kernel_len", "dim", "slice_len",
                                             "num_channels", "batchnorm", "upsample", "genr_pp",
                                             "genr_pp_len", "phaseshuffle")]
        rows += [("loss", "wgan-gp"), ("batch_size", o.batch_size),
                 ("disc_nupdates", o.disc_nupdates)]
        worst = max(self.self_check.values())
        return self.block(
            "readme", name=os.path.basename(o.out.rstrip("/")), model_name=MODEL_NAMES[o.model],
            train_file=os.path.basename(o.train_path), model_file=os.path.basename(o.model_path),
            commit=repo_commit(o.repo), tf_version=self.tf.__version__,
            regenerate=self.regenerate_command(),
            facts=", ".join(file_facts(p) for p in (o.train_path, o.model_path)),
            builders_line=f"\n{self.builders_note}." if self.builders_note else "",
            train_command=self.train_command,
            config_rows="\n".join(f"- {k}: {v}" for k, v in rows),
            sampler=self.block(f"sampler {o.model}"),
            losses_q=self.block("losses with Q" if has_q else "losses without Q"),
            seed=o.seed, iterations=o.iterations, disc_nupdates=o.disc_nupdates,
            phaseshuffle=o.phaseshuffle,
            file_rows="\n".join(f"| `{f}` | {n} |" for f, n in sizes.items()),
            ckpt=self.ckpt_name, n_variables=len(self.listed),
            variables="\n".join(f"{n} {list(s)}" for n, s in self.listed),
            reference_rows="\n".join(f"| `{k}` | {list(v.shape)} | {v.dtype} |"
                                     for k, v in self.ref.items()),
            last_generator_entry=self.block("last generator entry with post-processing"
                                            if o.genr_pp else "last generator entry"),
            q_logits=self.block("q logits" if has_q else "no q logits"),
            q_conv_keys=" / `q_convK`" if has_q else "",
            step_section=self.step_section(),
            self_check=", ".join(f"{k} {self.self_check[k]:.3g}" for k in
                                 ("G_z", "D_x", "Q_x", "q_on_G_z") if k in self.self_check),
            worst=f"{worst:.3g}") + "\n"

    def regenerate_command(self):
        o = self.o
        flags = [f"--model={o.model}"]
        if o.model != "wavegan":
            flags.append(f"--num_categ={o.num_categ}")
        flags += [f"--{k}={getattr(o, k)}" for k in REGENERATE_FLAGS]
        flags += [f"--{k}" for k in ("batchnorm", "genr_pp") if getattr(o, k)]
        return (f"python tools/make_tf1_reference.py {self.repo_flag}=REPO "
                + " ".join(flags) + f" --out={os.path.basename(o.out.rstrip('/'))}")

    def step_section(self) -> str:
        o = self.o
        has_q = o.model != "wavegan"
        if not has_q:
            semantics = self.block("semantics wavegan")
        else:
            semantics = self.block("semantics") + (
                "\n" + self.block("semantics batch norm") if o.batchnorm else "")
        return self.block(
            "step", ckpt=self.ckpt_name, phaseshuffle=o.phaseshuffle,
            step_command=self.step_command, batch_size=o.batch_size, slice_len=o.slice_len,
            latent_dim=o.latent_dim, q_loss=", `Q_loss`" if has_q else "",
            q_variables=" and `Q/...`" if has_q else "", semantics=semantics,
            full_size=self.full_size, magnitudes=self.magnitudes() if has_q else "")

    def magnitudes(self) -> str:
        """How far one step moves the weights and how far the two semantics differ, then what
        the original's own (unordered) call gave; '' for WaveGAN."""
        r = self.result
        (l_sim, s_sim), (l_seq, s_seq) = r["gq"]["simultaneous"], r["gq"]["sequential"]
        start = r["gq_start"]
        g_w = [k for k in s_sim if k in r["trainable"] and k.startswith("G/")]
        q_w = [k for k in s_sim if k in r["trainable"] and k.startswith("Q/")]
        text = "\n" + self.block(
            "magnitudes", g_change=f"{max_abs(s_sim, start, g_w):.3g}",
            q_change=f"{max_abs(s_sim, start, q_w):.3g}",
            g_difference=f"{max_abs(s_sim, s_seq, g_w):.3g}",
            q_difference=f"{max_abs(s_sim, s_seq, q_w):.3g}",
            q_loss_simultaneous=f"{l_sim['Q_loss']:.7g}",
            q_loss_sequential=f"{l_seq['Q_loss']:.7g}") + "\n"
        if r["original_call"]:
            text += "\n" + self.original_call_section(s_sim, s_seq) + "\n"
        return text

    def original_call_section(self, s_sim, s_seq) -> str:
        weights = [k for k in s_sim if k in self.result["trainable"]]
        lines = []
        for single_thread, runs in self.result["original_call"]:
            distinct = len({b"".join(np.asarray(v).tobytes() for v in run.values())
                            for run in runs})
            over = max(sum(max_abs({k: run[k]}, {k: s_sim[k]}) > 1e-7 for k in run)
                       for run in runs)
            lines.append(self.block(
                "outcome", session=("single-threaded session" if single_thread else
                                    f"default session config ({os.cpu_count()} CPU cores)"),
                n_runs=len(runs), distinct=distinct,
                to_simultaneous=f"{max(max_abs(run, s_sim) for run in runs):.3g}",
                to_simultaneous_weights=f"{max(max_abs(run, s_sim, weights) for run in runs):.3g}",
                n_over=over,
                to_sequential=f"{min(max_abs(run, s_seq, weights) for run in runs):.3g}"))
        return self.block("original call", outcomes="\n".join(lines))
