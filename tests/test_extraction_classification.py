"""Q classification: codes, bits (read by ciwgan.codes, as the extraction reads them),
confusion table, Hungarian accuracy, chance levels."""

import numpy as np
import pytest

from extraction import classification as cl

codes_mod = pytest.importorskip("ciwgan.codes")
wavegan_config = pytest.importorskip("wavegan.config")
CIWGAN3 = wavegan_config.WaveGANConfig(model="ciwgan", num_categ=3, dim=2)
FIWGAN3 = wavegan_config.WaveGANConfig(model="fiwgan", num_categ=3, dim=2)


def test_ciwgan_codes():
    logits = np.array([[0.0, 2.0, 1.0], [5.0, -1.0, 4.9]])
    codes, labels = codes_mod.read_codes(CIWGAN3, logits)
    probs = codes_mod.code_probabilities(CIWGAN3, logits)
    np.testing.assert_array_equal(codes, [1, 0])
    assert labels == ["code_1", "code_0"]
    e = np.exp([0.0, 2.0, 1.0])
    np.testing.assert_allclose(probs[0], e / e.sum())
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_fiwgan_bits():
    logits = np.array([[1.0, -1.0, 0.5], [-2.0, 3.0, 0.0]])
    codes, labels = codes_mod.read_codes(FIWGAN3, logits)
    probs = codes_mod.code_probabilities(FIWGAN3, logits)
    assert labels == ["bits_101", "bits_010"]                     # sigmoid(0) = 0.5 -> 0
    np.testing.assert_allclose(probs[0, 0], 1 / (1 + np.exp(-1.0)))
    np.testing.assert_array_equal(codes, [5, 2])                  # bit 0 most significant
    assert np.isfinite(codes_mod.code_probabilities(
        FIWGAN3, np.array([[-1000.0, 1000.0, 0.0]]))).all()


def test_confusion_table_hand_case():
    words = ["a", "a", "a", "b", "b", "c"]
    codes = [1, 1, 2, 2, 2, 0]
    t = cl.confusion_table(words, codes, all_codes=[0, 1, 2, 3])
    assert list(t.index) == ["a", "b", "c"] and list(t.columns) == [0, 1, 2, 3]
    np.testing.assert_array_equal(t.to_numpy(), [[0, 2, 1, 0], [0, 0, 2, 0], [1, 0, 0, 0]])
    acc, mapping = cl.hungarian_accuracy(t)
    assert acc == pytest.approx(5 / 6)
    assert mapping == {"a": 1, "b": 2, "c": 0}
    with pytest.raises(ValueError, match="not in all_codes"):
        cl.confusion_table(words, codes, all_codes=[0, 1])
    with pytest.raises(ValueError, match="6 words but 5 codes"):
        cl.confusion_table(words, codes[:5])


def test_hungarian_beats_greedy():
    # table x: [A 3, B 2], y: [A 2, B 0]; greedy (x->A) gives 3/7, optimum x->B, y->A = 4/7
    words = ["x"] * 5 + ["y"] * 2
    codes = ["A"] * 3 + ["B"] * 2 + ["A"] * 2
    acc, mapping = cl.hungarian_accuracy(cl.confusion_table(words, codes))
    assert acc == pytest.approx(4 / 7)
    assert mapping == {"x": "B", "y": "A"}


def test_hungarian_non_square():
    # more words than codes: p 5x code0; q 4x code0 + 1x code1; r 3x code1 -> p->0, r->1: 8/13
    words = ["p"] * 5 + ["q"] * 5 + ["r"] * 3
    codes = [0] * 5 + [0] * 4 + [1] + [1] * 3
    acc, mapping = cl.hungarian_accuracy(cl.confusion_table(words, codes))
    assert acc == pytest.approx(8 / 13) and mapping == {"p": 0, "r": 1}
    # more codes than words: u 2x0 + 3x1, v 4x2 -> u->1, v->2: 7/9
    acc, mapping = cl.hungarian_accuracy(cl.confusion_table(["u"] * 5 + ["v"] * 4,
                                                            [0, 0, 1, 1, 1, 2, 2, 2, 2]))
    assert acc == pytest.approx(7 / 9) and mapping == {"u": 1, "v": 2}


def test_zero_cells_not_in_mapping():
    # both words always get code 0: one of them is matched to an unused code -> left out
    acc, mapping = cl.hungarian_accuracy(cl.confusion_table(["a", "a", "b"], [0, 0, 0],
                                                            all_codes=[0, 1]))
    assert acc == pytest.approx(2 / 3) and mapping == {"a": 0}


def test_chance_levels():
    assert cl.chance_level(["a", "a", "b"]) == pytest.approx(2 / 3)
    assert cl.chance_level(list("abcd") * 3) == pytest.approx(0.25)
    words = list("abcd") * 50
    codes = [ord(w) % 4 for w in words]              # perfect classifier
    _, summary = cl.classification_summary(words, codes, n_perm=50, seed=1)
    assert summary["accuracy"] == 1.0
    pc = summary["permutation_chance"]
    # shuffled codes: expectation close to 1/4 plus the small optimistic bias of the fitted map
    assert 0.25 <= pc["mean"] < 0.4 and pc["p95"] < 0.45
    assert pc == cl.permutation_chance(words, codes, n_perm=50, seed=1, observed=1.0)
    # no shuffle reaches 1.0: p = (1 + 0) / (50 + 1), the smallest p 50 shuffles can give
    assert pc["p"] == pytest.approx(1 / 51)
    # an observed accuracy at the baseline's floor: every shuffle reaches it, p = 51 / 51
    assert cl.permutation_chance(words, codes, n_perm=50, seed=1, observed=0.0)["p"] == 1.0
    assert "p" not in cl.permutation_chance(words, codes, n_perm=50, seed=1)


def test_empty_inputs_raise():
    with pytest.raises(ValueError, match="no tokens"):
        cl.confusion_table([], [])
    with pytest.raises(ValueError, match=r"expected \[N, 3\]"):
        codes_mod.read_codes(CIWGAN3, np.zeros(3))


def test_non_finite_logits_refused():
    """An all-NaN row would come out of argmax as code 0 (and a NaN bit as 0): refused."""
    assert np.argmax(np.array([np.nan, np.nan, np.nan])) == 0      # the hazard itself
    for logits in (np.array([[0.0, 1.0, 2.0], [np.nan, np.nan, np.nan]]),
                   np.array([[np.inf, 0.0, 1.0], [0.0, 1.0, 2.0]])):
        with pytest.raises(ValueError, match=r"logits of 1 example\(s\).*NaN/inf"):
            codes_mod.read_codes(CIWGAN3, logits)
        with pytest.raises(ValueError, match=r"logits of 1 example\(s\).*NaN/inf"):
            codes_mod.read_codes(FIWGAN3, logits)
