"""The shared step's gradient arithmetic: mean, clip and embedding rows."""

import numpy as np
import pytest
import tensorflow as tf

from rembert_tf.training import train_step


@pytest.mark.parametrize("clip_norm", [0.5, 100.0], ids=["clips", "no_clip"])
def test_one_scale_equals_mean_then_clip(clip_norm):
  rng = np.random.default_rng(0)
  grads = [tf.constant(rng.normal(size=(4, 3)).astype(np.float32)),
           tf.constant(rng.normal(size=(6, 3)).astype(np.float32))]
  scale = tf.constant(1 / 7)
  ours = train_step._scale_and_clip(grads, scale, clip_norm)  # pylint: disable=protected-access
  expected, norm = tf.clip_by_global_norm([g * scale for g in grads], clip_norm)
  assert (float(norm) > clip_norm) == (clip_norm == 0.5)
  for a, b in zip(ours, expected):
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_repeated_embedding_rows_are_summed_before_the_norm():
  # Row 2 is named twice: the dense gradient holds 2 * [1, 0] there, norm 2,
  # where the raw values' norm would be sqrt(2).
  gradient = tf.IndexedSlices(tf.constant([[1.0, 0.0], [1.0, 0.0]]),
                              tf.constant([2, 2]), tf.constant([4, 2]))
  dense = train_step._dense(gradient)  # pylint: disable=protected-access
  np.testing.assert_array_equal(dense, [[0, 0], [0, 0], [2, 0], [0, 0]])
  assert float(tf.linalg.global_norm([dense])) == pytest.approx(2.0)
  assert float(tf.linalg.global_norm([gradient])) == pytest.approx(2 ** 0.5)
