r"""The README's main job: the whole pipeline on the embedded corpus, on a CPU.

  python -m rembert_tf.demo [--work_dir=out/demo]

1. Generates the embedded multilingual corpus and prepares MLM TFRecords with a
   SentencePiece model trained on it (`create_pretraining_data.py`), plus
   held-out data from other documents for evaluation.
2. Pre-trains a tiny decoupled RemBERT (Ein 64 < H 128 < Eout 256) for a few
   minutes (`run_pretraining.py`), logging MLM accuracy as it rises.
3. Fine-tunes it on the embedded English XNLI-style set
   (`create_classifier_data.py`, `run_classifier.py`) and prints its zero-shot
   accuracy on every embedded language.
4. Fine-tunes it for extractive QA on the embedded English SQuAD-style set
   (`run_squad.py`) and prints its zero-shot EM/F1 on every embedded language.
5. Prints the paths of what it wrote.

Each step is the real command-line tool, printed before it runs, so the demo
also shows how to run them by hand. Finished steps are not repeated.
"""

import json
import os
import shlex
import subprocess
import sys
from typing import Sequence

from absl import app
from absl import flags

from rembert_tf.data import metadata as metadata_lib
from rembert_tf.data.demo_corpus import LANGUAGES
from rembert_tf.tasks.classification import metrics as classifier_metrics
from rembert_tf.tasks.classification import run as classifier_training
from rembert_tf.tasks.squad import metrics as squad_metrics
from rembert_tf.tasks.squad import run as squad_training

_WORK_DIR = flags.DEFINE_string("work_dir", "out/demo",
                                "Where the demo writes everything.")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The tiny model: decoupled, with the paper's rebalancing Ein < H < Eout.
DEMO_MODEL = {"input_embedding_size": 64, "hidden_size": 128,
              "output_embedding_size": 256, "num_hidden_layers": 4,
              "num_attention_heads": 4, "intermediate_size": 512,
              "max_position_embeddings": 128}


def _run(*args: str) -> None:
  """Runs one repository script, echoing the command; stops the demo on error."""
  print("\n$ " + " ".join(shlex.quote(a) for a in args), flush=True)
  result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, check=False)
  if result.returncode:
    sys.exit(f"demo: step failed (exit {result.returncode}): {' '.join(args)}")


def write_demo_config(data_dir: str, path: str) -> None:
  """A config of DEMO_MODEL's sizes whose vocabulary and ids are the data's."""
  sentencepiece = metadata_lib.read_metadata(data_dir)["sentencepiece"]
  special = sentencepiece["special_ids"]
  config = {**DEMO_MODEL, "vocab_size": sentencepiece["vocab_size"],
            "pad_token_id": special["pad"], "bos_token_id": special["cls"],
            "eos_token_id": special["sep"]}
  with open(path, "w", encoding="utf-8") as f:
    json.dump(config, f, indent=2, sort_keys=True)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  work = os.path.abspath(_WORK_DIR.value)
  paths = {
      "corpus": os.path.join(work, "corpus"),
      "held-out corpus": os.path.join(work, "heldout_corpus"),
      "sentencepiece model": os.path.join(work, "spm", "demo_spm.model"),
      "pre-training data": os.path.join(work, "pretrain_data"),
      "held-out data": os.path.join(work, "heldout_data"),
      "model config": os.path.join(work, "rembert_tiny.json"),
      "pre-training run": os.path.join(work, "pretraining"),
  }
  _run("create_pretraining_data.py", "--flagfile=flags/demo_data.flags",
       f"--demo_corpus_dir={paths['corpus']}",
       f"--sp_model_file={paths['sentencepiece model']}",
       f"--output_dir={paths['pre-training data']}")
  _run("-m", "rembert_tf.data.demo_corpus",
       f"--output_dir={paths['held-out corpus']}", "--num_documents=150",
       "--seed=1")
  _run("create_pretraining_data.py", "--flagfile=flags/demo_data.flags",
       "--demo_corpus_dir=", "--dupe_factor=1", "--random_seed=777",
       f"--input_dir={os.path.join(paths['held-out corpus'], 'pretrain')}",
       f"--sp_model_file={paths['sentencepiece model']}",
       f"--output_dir={paths['held-out data']}")
  write_demo_config(paths["pre-training data"], paths["model config"])
  _run("run_pretraining.py", "--flagfile=flags/demo_pretraining.flags",
       f"--config_file={paths['model config']}",
       f"--input_dir={paths['pre-training data']}",
       f"--eval_input_dir={paths['held-out data']}",
       f"--model_dir={paths['pre-training run']}")
  run_dir = paths["pre-training run"]
  with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
    metrics = json.load(f)
  paths["encoder checkpoint (for fine-tuning)"] = metrics["encoder_checkpoint"]
  paths["metrics"] = os.path.join(run_dir, "metrics.json")
  paths["TensorBoard"] = os.path.join(run_dir, "summaries")
  paths["fine-tuning data"] = os.path.join(work, "xnli_data")
  paths["fine-tuning run"] = os.path.join(work, "xnli")
  _run("create_classifier_data.py", "--task=xnli",
       f"--data_dir={os.path.join(paths['corpus'], 'xnli')}",
       f"--sp_model_file={paths['sentencepiece model']}",
       f"--output_dir={paths['fine-tuning data']}", "--max_seq_length=64",
       f"--languages={','.join(LANGUAGES)}", "--eval_splits=dev",
       "--overwrite")
  _run("run_classifier.py", "--flagfile=flags/xnli_demo.flags",
       f"--config_file={paths['model config']}",
       f"--init_checkpoint={metrics['encoder_checkpoint']}",
       f"--data_dir={paths['fine-tuning data']}",
       f"--model_dir={paths['fine-tuning run']}")
  paths["zero-shot results"] = os.path.join(paths["fine-tuning run"],
                                            classifier_training.RESULTS_FILE)
  paths["classifier SavedModel (raw text)"] = os.path.join(
      paths["fine-tuning run"], classifier_training.EXPORT_DIR)
  squad_dir = os.path.join(paths["corpus"], "squad")
  paths["QA run"] = os.path.join(work, "squad")
  _run("run_squad.py", "--flagfile=flags/squad_demo.flags",
       f"--config_file={paths['model config']}",
       f"--init_checkpoint={metrics['encoder_checkpoint']}",
       f"--sp_model_file={paths['sentencepiece model']}",
       f"--train_file={os.path.join(squad_dir, 'train-en.json')}",
       f"--predict_file={os.path.join(squad_dir, 'dev-{lang}.json')}",
       f"--predict_languages={','.join(LANGUAGES)}",
       f"--model_dir={paths['QA run']}")
  paths["QA results"] = os.path.join(paths["QA run"],
                                     squad_training.RESULTS_FILE)
  paths["QA predictions"] = os.path.join(paths["QA run"],
                                         squad_training.PREDICTIONS_DIR)
  paths["QA SavedModel (question, context)"] = os.path.join(
      paths["QA run"], squad_training.EXPORT_DIR)
  with open(paths["zero-shot results"], encoding="utf-8") as f:
    dev = json.load(f)["eval"]["dev"]
  with open(paths["QA results"], encoding="utf-8") as f:
    qa = json.load(f)["eval"]
  print(f"\nDemo done: MLM accuracy {metrics['mlm_accuracy']:.3f} (train), "
        f"{metrics.get('eval_accuracy', float('nan')):.3f} (held-out) after "
        f"{metrics['step']} steps.\nWritten:")
  for name, path in paths.items():
    print(f"  {name:38s} {os.path.relpath(path)}")
  print("\nXNLI-style accuracy, fine-tuned on English only (chance 0.33):")
  print(classifier_metrics.accuracy_table("dev", dev["accuracy"], dev["examples"]))
  print("\nSQuAD-style QA, fine-tuned on English only (EM and F1, x100):")
  print(squad_metrics.results_table(qa["split"], qa["languages"]))


if __name__ == "__main__":
  app.run(main)
