"""gemini_np.article: the article's worked example (§4.3), its wrong claim and the correct weights.

Every expected number is computed here from its definition (math.e, math.exp),
never copied from the code's output. (The demo that prints them: tests/test_cli.py.)
"""
import math

import numpy as np

from gemini_np import article

E = math.e
A = math.exp(1 / math.sqrt(5))  # the diagonal logit with the 1/√d_k scaling, d_k = 5
UNSCALED_ROW = (E / (E + 2), 1 / (E + 2))  # softmax([1, 0, 0]) = [e, 1, 1] / (e + 2)
SCALED_ROW = (A / (A + 2), 1 / (A + 2))  # softmax([1/√5, 0, 0])


def expected_weights(diagonal, off_diagonal):
    return np.full((3, 3), off_diagonal) + np.eye(3) * (diagonal - off_diagonal)


def test_article_similarities_and_claims():
    np.testing.assert_array_equal(article.embeddings(), np.eye(3, 5))
    np.testing.assert_array_equal(article.similarities(), np.eye(3))
    np.testing.assert_array_equal(article.claimed_weights(), np.eye(3))
    # the article's procedure taken literally (softmax of one number) gives all ones, not the identity
    np.testing.assert_array_equal(article.softmax_of_scalars(), np.ones((3, 3)))


def test_article_correct_weights_from_the_definition():
    np.testing.assert_allclose(article.correct_weights(scaled=False), expected_weights(*UNSCALED_ROW), rtol=1e-15)
    np.testing.assert_allclose(article.correct_weights(scaled=True), expected_weights(*SCALED_ROW), rtol=1e-15)
    # the printed four-digit values are these numbers rounded
    assert f"{UNSCALED_ROW[0]:.4f}" == "0.5761" and f"{UNSCALED_ROW[1]:.4f}" == "0.2119"
    assert f"{SCALED_ROW[0]:.4f}" == "0.4388" and f"{SCALED_ROW[1]:.4f}" == "0.2806"


def test_identity_is_only_the_zero_temperature_limit():
    errors = [np.abs(article.temperature_weights(t) - np.eye(3)).max() for t in (1.0, 0.3, 0.1, 0.05)]
    assert all(a > b for a, b in zip(errors, errors[1:]))  # shrinks as T -> 0
    t = 0.05
    diagonal = math.exp(1 / t) / (math.exp(1 / t) + 2)
    np.testing.assert_allclose(article.temperature_weights(t), expected_weights(diagonal, 1 / (math.exp(1 / t) + 2)), rtol=1e-12)
    assert not np.array_equal(article.temperature_weights(t), np.eye(3))


def test_context_vectors_are_weights_times_h():
    h = article.embeddings()
    for scaled, row in ((True, SCALED_ROW), (False, UNSCALED_ROW)):
        np.testing.assert_allclose(article.context_vectors(scaled=scaled), expected_weights(*row) @ h, rtol=1e-14, atol=1e-16)


def test_format_matrix_aligns_cjk_labels():
    text = article.format_matrix(article.correct_weights())
    lines = text.splitlines()
    assert len(lines) == 4
    assert all(token in lines[0] for token in article.TOKENS)
    widths = {article._display_width(line) for line in lines}
    assert len(widths) == 1, "every row has the same display width (CJK characters count double)"
    assert article._display_width("猫") == 2 and article._display_width("ab") == 2
