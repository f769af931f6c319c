"""Window predictions -> one tag per word, and the per-language files.

Each word's tag is the prediction at its first piece, taken by
`windows.word_values`, the function the SavedModel calls in its graph. The
evaluation is exact: every word of every sentence must be scored exactly once
(counted per sentence against the words file), as the padded evaluation
checks the windows.
"""

from typing import Mapping, Sequence

import numpy as np

from rembert_tf import file_io
from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.tagging import windows


def word_predictions(outputs: Mapping[str, np.ndarray],
                     words_per_sentence: Sequence[int],
                     source: str) -> list[np.ndarray]:
  """Each sentence's predicted label ids, one per word.

  Args:
    outputs: per window (as read): int [F, seq] `predictions` and
      `label_weights` (1 on each word's first piece), int [F]
      `sentence_index`.
    words_per_sentence: every sentence's word count, in file order.
    source: the windows' file, for the message.

  Raises:
    TaskError: a sentence whose words were not each scored once.
  """
  first_piece = np.asarray(outputs["label_weights"]) > 0
  counts = np.asarray(words_per_sentence)
  scored = np.bincount(outputs["sentence_index"],
                       weights=first_piece.sum(axis=1), minlength=len(counts))
  if len(scored) != len(counts) or (scored != counts).any():
    raise TaskError(f"{source}: scored {int(scored.sum())} words of "
                    f"{len(scored)} sentences, but the words file has "
                    f"{int(counts.sum())} words of {len(counts)}, each to be "
                    "scored once; evaluation would not be exact")
  flat = windows.word_values(outputs["predictions"], first_piece).numpy()
  return np.split(flat, np.cumsum(counts)[:-1])


def write_predictions(path: str, words: Sequence[Sequence[str]],
                      gold: Sequence[Sequence[str]],
                      predicted: Sequence[Sequence[str]]) -> None:
  """One `word<TAB>gold<TAB>prediction` line per word, a blank line after
  each sentence (XTREME's layout plus a column)."""
  lines = []
  for sentence in zip(words, gold, predicted, strict=True):
    lines += ["\t".join(row) for row in zip(*sentence, strict=True)] + [""]
  file_io.write_text(path, "\n".join(lines) + "\n")
