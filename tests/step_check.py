"""One D update and one G+Q update from the TF1 fixture, compared with step_reference.npz.

Run as a script (by tests/test_train_step.py) so the numerics mode is chosen before
TensorFlow starts:  python tests/step_check.py FIXTURE_DIR SEMANTICS RTOL [exact] [REF_SEMANTICS]
(REF_SEMANTICS: compare with the other semantics' reference keys, to show they differ).
Prints one line per phase and exits non-zero on any mismatch.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(fixture, semantics, rtol, exact, ref_semantics=None):
    if exact:
        from wavegan.runtime import request_exact_numerics
        request_exact_numerics()
    import numpy as np
    from tf1_reference import compare_to_reference  # tests/, this script's folder
    from ciwgan.trainer import GANTrainer
    from wavegan.tf1_checkpoint import load_tf1_checkpoint, model_links

    ref = np.load(Path(fixture) / "step_reference.npz")
    # The reference step was built with phase shuffle radius 0.
    config, G, D, Q, info = load_tf1_checkpoint(str(Path(fixture) / "model.ckpt-3"),
                                                phaseshuffle_rad=0)
    trainer = GANTrainer(config, G, D, Q, gq_semantics=semantics)
    trainer.load_tf1_state(info["prefix"])
    variables = dict(trainer.tf1_state_links())
    variables.update({l.tf1_name: l.variable for l in model_links(G, D, Q)})

    def state():
        return {name: np.asarray(v.numpy()) for name, v in variables.items()}

    # The fast path (oneDNN, 2 threads) sums in another order: ~1e-7 absolute on every tensor,
    # which a purely relative bound cannot absorb on elements that happen to lie near zero.
    atol = 1e-8 if exact else 1e-6
    ok = True
    d_out = trainer.d_update(ref["x"], ref["z_d"], ref["alpha"])
    values = {**state(), **{k: v.numpy() for k, v in d_out.items()}}
    n, fails = compare_to_reference(ref, values, "", rtol=rtol, atol=atol)
    print(f"D update: {n} tensors compared, {len(fails)} mismatches")
    for f in fails:
        print("  ", f)
    ok &= not fails and n >= 50
    gq_out = trainer.gq_update(ref["z_g"])
    values = {**state(), **{k: v.numpy() for k, v in gq_out.items()}}
    n, fails = compare_to_reference(ref, values, ref_semantics or semantics, rtol=rtol,
                                    atol=atol)
    print(f"G+Q update ({semantics}): {n} tensors compared, {len(fails)} mismatches")
    for f in fails:
        print("  ", f)
    ok &= not fails and n >= 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), len(sys.argv) > 4,
                  sys.argv[5] if len(sys.argv) > 5 else None))
