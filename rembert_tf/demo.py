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
5. Fine-tunes it for NER on the embedded English PAN-X-style set
   (`create_tagging_data.py`, `run_tagging.py`) and prints its zero-shot
   entity F1 on every embedded language, with the step's wall and CPU time.
6. Prints the paths of what it wrote.

Each step is the real command-line tool, printed before it runs, so the demo
also shows how to run them by hand. Finished steps are not repeated.
"""

import json
import os
import resource
import shlex
import subprocess
import sys
import time
from typing import Any, Sequence

from absl import app
from absl import flags

from rembert_tf.analysis import nn_translation
from rembert_tf.analysis import report
from rembert_tf.data import metadata as metadata_lib
from rembert_tf.data.demo_corpus import LANGUAGES
from rembert_tf.data.demo_corpus import NER_LABELS
from rembert_tf.tasks.classification import metrics as classifier_metrics
from rembert_tf.tasks.classification import run as classifier_training
from rembert_tf.tasks.squad import metrics as squad_metrics
from rembert_tf.tasks.squad import run as squad_training
from rembert_tf.tasks.tagging import metrics as tagging_metrics
from rembert_tf.tasks.tagging import run as tagging_training

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
  print("\n$ python " + " ".join(shlex.quote(a) for a in args), flush=True)
  result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, check=False)
  if result.returncode:
    sys.exit(f"demo: step failed (exit {result.returncode}): {' '.join(args)}")


def _timed(*commands: Sequence[str]) -> tuple[float, float]:
  """Runs the commands as `_run` does; returns their wall and CPU seconds
  (the CPU time of the child processes: on a busy machine it is the one
  that says what the step costs)."""
  wall = time.perf_counter()
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  for command in commands:
    _run(*command)
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  return (time.perf_counter() - wall,
          after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def _add_run_outputs(paths: dict[str, str], name: str, run_module: Any,
                     inputs: str) -> None:
  """The results, predictions and SavedModel of the run `paths[name + " run"]`
  (`run_module` names its files; the SavedModel takes `inputs`)."""
  run_dir = paths[f"{name} run"]
  paths[f"{name} results"] = os.path.join(run_dir, run_module.RESULTS_FILE)
  paths[f"{name} predictions"] = os.path.join(run_dir,
                                              run_module.PREDICTIONS_DIR)
  paths[f"{name} SavedModel ({inputs})"] = os.path.join(run_dir,
                                                       run_module.EXPORT_DIR)


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
  _add_run_outputs(paths, "QA", squad_training, "question, context")
  paths["NER data"] = os.path.join(work, "panx_data")
  paths["NER run"] = os.path.join(work, "panx")
  ner_seconds = _timed(
      ("create_tagging_data.py", "--task=panx",
       f"--data_dir={os.path.join(paths['corpus'], 'panx')}",
       f"--sp_model_file={paths['sentencepiece model']}",
       f"--output_dir={paths['NER data']}", "--max_seq_length=64",
       f"--languages={','.join(LANGUAGES)}",
       f"--labels={','.join(NER_LABELS)}", "--eval_splits=dev",
       "--overwrite"),
      ("run_tagging.py", "--flagfile=flags/panx_demo.flags",
       f"--config_file={paths['model config']}",
       f"--init_checkpoint={metrics['encoder_checkpoint']}",
       f"--data_dir={paths['NER data']}", f"--model_dir={paths['NER run']}"))
  _add_run_outputs(paths, "NER", tagging_training, "sentences")
  with open(paths["zero-shot results"], encoding="utf-8") as f:
    dev = json.load(f)["eval"]["dev"]
  with open(paths["QA results"], encoding="utf-8") as f:
    qa = json.load(f)["eval"]
  with open(paths["NER results"], encoding="utf-8") as f:
    ner = json.load(f)["eval"]["dev"]
  print(f"\nDemo done: MLM accuracy {metrics['mlm_accuracy']:.3f} (train), "
        f"{metrics.get('eval_accuracy', float('nan')):.3f} (held-out) after "
        f"{metrics['step']} steps.\nWritten:")
  for name, path in paths.items():
    print(f"  {name:38s} {os.path.relpath(path)}")
  print("\nXNLI-style accuracy, fine-tuned on English only (chance 0.33):")
  print(classifier_metrics.accuracy_table("dev", dev["accuracy"], dev["examples"],
                                       dev["truncated"]))
  print("\nSQuAD-style QA, fine-tuned on English only (EM and F1, x100):")
  print(squad_metrics.results_table(qa["split"], qa["languages"]))
  print("\nPAN-X-style NER, fine-tuned on English only (entity F1, CoNLL):")
  print(tagging_metrics.results_table("dev", ner))
  print(f"(NER step: {ner_seconds[0]:.0f} s wall, {ner_seconds[1]:.0f} s CPU)")
  print_translation_curve(paths, os.path.join(work, "nn_translation"))


def print_translation_curve(paths: dict[str, str], output_dir: str) -> None:
  """The paper's Figure 2 for the demo's model: en->de nearest-neighbour
  accuracy per layer, on the parallel sentences of the held-out documents
  (`nn_translation`; a few seconds)."""
  summary = nn_translation.translate(
      nn_translation.demo_pairs("en", "de", num_documents=150, seed=1),
      [report.Checkpoint("demo model", paths["pre-training run"],
                         paths["model config"])],
      paths["sentencepiece model"], output_dir, languages=("en", "de"))
  print("\nFigure 2 of the demo model (appendix A.9), held-out sentences:")
  print(nn_translation.format_curve(summary))
  plot = os.path.join(output_dir, nn_translation.PLOT_FILE)
  print(f"(plot: {os.path.relpath(plot)})")


if __name__ == "__main__":
  app.run(main)
