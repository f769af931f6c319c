r"""Prints every shipped config's parameter counts beside the paper's figures.

  python -m rembert_tf.count_params           # a table
  python -m rembert_tf.count_params --json    # one JSON object per config

Counts are exact (`modeling/param_count.py`, checked against built models by the
tests); "fine-tuning" is the encoder without the pooler or the output embedding
(the paper's appendix A.1 and footnote 11).
"""

import json
from typing import Any, Sequence

from absl import app
from absl import flags

from rembert_tf.configs import load_config
from rembert_tf.configs import PAPER_CONFIGS
from rembert_tf.modeling import param_count

_JSON = flags.DEFINE_bool("json", False, "Print one JSON object per config.")


def config_rows() -> list[dict[str, Any]]:
  """Exact counts and the paper's figures for every shipped config."""
  rows = []
  for paper in PAPER_CONFIGS:
    config = load_config(paper.name)
    rows.append({
        "name": paper.name,
        "pretraining_params": param_count.pretraining_params(config),
        "finetuning_params": param_count.finetuning_params(config),
        "paper_pretraining_params": paper.paper_pretraining_params * 1e6,
        "paper_finetuning_params": paper.paper_finetuning_params * 1e6,
        "vocab_size": config.vocab_size,
        "input_embedding_size": config.input_embedding_size,
        "output_embedding_size": (
            "tied" if config.tie_word_embeddings
            else config.output_embedding_size),
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "finetuning_layers": config.for_finetuning().num_hidden_layers,
        "rows": paper.rows,
    })
  return rows


def _millions(count: float) -> str:
  return f"{count / 1e6:.1f}M"


def _deviation(ours: int, paper: float) -> str:
  return f"{100 * (ours - paper) / paper:+.1f}%"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
  """A fixed-width table, one config per line."""
  header = ("config", "V", "Ein", "Eout", "H", "L(FT)", "PT ours", "PT paper",
            "diff", "FT ours", "FT paper", "diff")
  lines = [header]
  for r in rows:
    layers = str(r["num_hidden_layers"])
    if r["finetuning_layers"] != r["num_hidden_layers"]:
      layers += f"({r['finetuning_layers']})"
    lines.append((
        r["name"], str(r["vocab_size"]), str(r["input_embedding_size"]),
        str(r["output_embedding_size"]), str(r["hidden_size"]), layers,
        _millions(r["pretraining_params"]),
        _millions(r["paper_pretraining_params"]),
        _deviation(r["pretraining_params"], r["paper_pretraining_params"]),
        _millions(r["finetuning_params"]),
        _millions(r["paper_finetuning_params"]),
        _deviation(r["finetuning_params"], r["paper_finetuning_params"])))
  widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
  text = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(line, widths)))
          for line in lines]
  text.insert(1, "-" * len(text[0]))
  return "\n".join(text)


def mismatch_notes() -> str:
  """Why some rows differ from the paper by more than 1%."""
  return "\n".join(f"* {p.name}: {p.mismatch}" for p in PAPER_CONFIGS
                   if p.mismatch)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  rows = config_rows()
  if _JSON.value:
    for r in rows:
      print(json.dumps({k: r[k] for k in (
          "name", "pretraining_params", "finetuning_params",
          "paper_pretraining_params", "paper_finetuning_params")}))
    return
  print("RemBERT configurations: exact parameter counts vs the paper "
        "(PT = pre-training, FT = fine-tuning; no pooler in either)\n")
  print(format_table(rows))
  print("\nRows more than 1% from the paper:\n" + mismatch_notes())


if __name__ == "__main__":
  app.run(main)
