"""Exponentially smoothed language sampling (RemBERT paper, appendix A.7).

With n_l the number of sentences of language l, p_l = n_l / sum(n) and the
sampling probability is p_l**alpha renormalized: alpha = 1 keeps the natural
mixture, 0 samples languages uniformly, and the paper's 0.5 lifts
low-resource languages.
"""

from typing import Mapping

import numpy as np


def sampling_weights(counts: Mapping[str, int], alpha: float) -> dict[str, float]:
  """Sampling probability per language, proportional to count**alpha."""
  if alpha < 0:
    raise ValueError(f"alpha must be >= 0, got {alpha}.")
  if not counts or min(counts.values()) <= 0:
    raise ValueError(f"Every language needs a positive count, got {dict(counts)}.")
  n = np.array(list(counts.values()), np.float64)
  p = (n / n.sum()) ** alpha
  return dict(zip(counts, (p / p.sum()).tolist()))
