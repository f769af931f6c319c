"""Per-language prediction files, written atomically (local or gs:// paths)."""

from typing import Sequence

from rembert_tf import file_io

import numpy as np



def write_predictions(path: str, labels: Sequence[str],
                      probabilities: np.ndarray, label_ids: np.ndarray) -> None:
  """One row per example, in file order: index, gold and predicted label, and
  each class probability."""
  header = ["index", "label", "prediction"] + [f"p_{l}" for l in labels]
  rows = ["\t".join(header)]
  for i, (p, gold) in enumerate(zip(probabilities, label_ids)):
    rows.append("\t".join([str(i), labels[gold], labels[int(np.argmax(p))]] +
                          [f"{x:.6f}" for x in p]))
  file_io.write_text(path, "\n".join(rows) + "\n")
