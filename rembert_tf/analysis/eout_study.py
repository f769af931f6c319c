r"""The paper's Eout study in miniature, on the embedded corpus: one command.

  python -m rembert_tf.analysis.eout_study             # one seed, out/study
  python -m rembert_tf.analysis.eout_study --seeds=1,2 # mean and spread
  python -m rembert_tf.analysis.eout_study --flagfile=flags/study_smoke.flags

Three models are pre-trained on the same data with the same seeds and steps.
All three have the same fine-tuning size (Ein = H = 128, 4 layers), because
the output embedding is dropped before fine-tuning:
  coupled     Eout = Ein = H: the MLM head scores against the input embedding;
  small Eout  decoupled, Eout = 32;
  large Eout  decoupled, Eout = 512.
For each it reports three things:
  - MLM accuracy on held-out documents (the demo corpus with another seed);
  - the Figure 2 curve (`nn_translation`) for en->de and en->hi, on the
    distinct parallel sentences of those documents;
  - zero-shot XNLI-style accuracy per language, fine-tuned on English
    (`layer_drop`'s runs with no layer removed).
They go into one table (study.md, study.json) and two plots:
study_nn_translation.png and study_xnli.png. With several seeds a cell is the
mean +- the sample standard deviation over seeds, and study.json keeps each
seed's values.

Data and settings are the demo's (flags/demo_data.flags,
demo_pretraining.flags, xnli_demo.flags), except the step and epoch budget.
Every run has its own directory under --work_dir
(seed_<s>/<model>/, seed_<s>/xnli/runs/...). A finished run is reused, a
killed one resumes, and a work_dir of another budget is refused. The default
budget (800 steps, 8 epochs) is estimated at 35-40 minutes per seed on 2
quiet CPU cores, from the per-step times of the smoke run and of the demo;
study.json records each run's wall and CPU time.
"""

import dataclasses
import os
import resource
import statistics
import time
from typing import Any, Callable, Mapping, Sequence

from absl import app
from absl import flags

from rembert_tf import file_io
from rembert_tf.analysis import layer_drop
from rembert_tf.analysis import nn_translation
from rembert_tf.analysis import report
from rembert_tf.data import demo_corpus
from rembert_tf.data import pipeline
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data.input_files import resolve_input_files
from rembert_tf.modeling import param_count
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.pretraining import run as pretraining
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.tasks.classification import run as classifier_run

PAIRS = (("en", "de"), ("en", "hi"))
HELD_OUT_SEED = 1  # The demo's held-out documents: MLM eval and NN pairs.
HELD_OUT_DOCUMENTS = 150
# Shared by the three models: equal fine-tuning parameters.
SIZES = {"input_embedding_size": 128, "hidden_size": 128,
         "num_hidden_layers": 4, "num_attention_heads": 4,
         "intermediate_size": 512, "max_position_embeddings": 128}


@dataclasses.dataclass(frozen=True)
class Model:
  name: str  # Its directories.
  label: str  # Legends and table.
  output: Mapping[str, Any]  # The output embedding's config fields.


MODELS = (
    Model("coupled", "coupled: Eout = Ein = 128",
          {"output_embedding_size": 128, "tie_word_embeddings": True}),
    Model("small_eout", "decoupled: Eout = 32", {"output_embedding_size": 32}),
    Model("large_eout", "decoupled: Eout = 512",
          {"output_embedding_size": 512}),
)
# The demo's pre-training (flags/demo_pretraining.flags) but the steps.
PRETRAINING = {"train_batch_size": 32, "eval_batch_size": 64,
               "max_seq_length": 128, "max_predictions_per_seq": 20,
               "learning_rate": 1e-3, "weight_decay": 0.01, "clip_norm": 1.0,
               "steps_per_loop": 50, "keep_checkpoint_max": 1,
               "eval_steps": 20}
# The demo's fine-tuning (flags/xnli_demo.flags) but the epochs.
FINETUNING = {"max_seq_length": 64, "learning_rate": 2e-4,
              "train_batch_size": 32, "warmup_proportion": 0.1,
              "eval_batch_size": 64, "eval_splits": ("dev",),
              "steps_per_loop": 50, "save_checkpoints_steps": 500,
              "keep_checkpoint_max": 1}
# The demo's data prep (flags/demo_data.flags); held-out data as the demo's.
DATA = {"max_seq_length": 128, "max_predictions_per_seq": 20,
        "masked_lm_prob": 0.15, "alpha": 0.5, "num_shards": 2}
SP_VOCAB_SIZE = 1000
TABLE_FILE = "study.md"
RESULTS_FILE = "study.json"
NN_PLOT = "study_nn_translation.png"
XNLI_PLOT = "study_xnli.png"


@dataclasses.dataclass(frozen=True)
class StudyData:
  """What every model of every seed is trained and evaluated on."""
  sp_model_file: str
  vocab_size: int
  special: sentencepiece_vocab.SpecialIds
  pretrain_dir: str
  heldout_dir: str
  xnli_dir: str
  pairs: Mapping[str, nn_translation.Pairs]  # "en-de" -> pairs.


def _pair_key(pair: Sequence[str]) -> str:
  return "-".join(pair)


def prepare_data(work_dir: str) -> StudyData:
  """The demo's corpus, SentencePiece model, MLM shards (training and
  held-out) and XNLI-style TFRecords, each made only when missing."""
  corpus = os.path.join(work_dir, "corpus")
  heldout = os.path.join(work_dir, "heldout_corpus")
  demo_corpus.write_demo_corpus(corpus)
  demo_corpus.write_demo_corpus(heldout, num_documents=HELD_OUT_DOCUMENTS,
                                seed=HELD_OUT_SEED)
  sp_model = os.path.join(work_dir, "spm", "study_spm.model")
  files = resolve_input_files(os.path.join(corpus, "pretrain"), None, None)
  if not os.path.exists(sp_model):
    sentencepiece_vocab.train_model([p for v in files.values() for p in v],
                                    sp_model[:-len(".model")], SP_VOCAB_SIZE)
  dirs = {name: os.path.join(work_dir, name)
          for name in ("pretrain_data", "heldout_data", "xnli_data")}
  pipeline.run(pipeline.DataPrepConfig(
      input_files=files, output_dir=dirs["pretrain_data"],
      sp_model_file=sp_model, dupe_factor=5, random_seed=12345, **DATA))
  pipeline.run(pipeline.DataPrepConfig(
      input_files=resolve_input_files(os.path.join(heldout, "pretrain"),
                                      None, None),
      output_dir=dirs["heldout_data"], sp_model_file=sp_model, dupe_factor=1,
      random_seed=777, **DATA))
  if not os.path.exists(os.path.join(dirs["xnli_data"],
                                     file_io.METADATA_FILE)):
    classifier_features.create_classifier_data(
        "xnli", os.path.join(corpus, "xnli"), sp_model, dirs["xnli_data"],
        max_seq_length=FINETUNING["max_seq_length"],
        languages=demo_corpus.LANGUAGES, eval_splits=("dev",))
  vocab = sentencepiece_vocab.load_vocab(sp_model)
  return StudyData(
      sp_model, vocab.vocab_size, vocab.special, dirs["pretrain_data"],
      dirs["heldout_data"], dirs["xnli_data"],
      {_pair_key(pair): nn_translation.demo_pairs(
          *pair, HELD_OUT_DOCUMENTS, HELD_OUT_SEED) for pair in PAIRS})


def model_config(model: Model, data: StudyData) -> RemBertConfig:
  return RemBertConfig(**SIZES, **model.output, vocab_size=data.vocab_size,
                       pad_token_id=data.special.pad,
                       bos_token_id=data.special.cls,
                       eos_token_id=data.special.sep)


def _timed(timing: dict[str, Any], key: str, run: Callable[[], Any],
           **notes: Any) -> Any:
  """`run()`, recording its wall and CPU seconds (this process and its
  children) as `timing[key]`."""
  def cpu() -> float:
    return sum(t for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for t in resource.getrusage(who)[:2])
  wall, start = time.perf_counter(), cpu()
  result = run()
  timing[key] = {"wall_s": round(time.perf_counter() - wall, 1),
                 "cpu_s": round(cpu() - start, 1), **notes}
  return result


def run_seed(seed: int, data: StudyData, configs: Mapping[str, str],
             work_dir: str, steps: int, finetuning_epochs: float,
             timing: dict[str, Any]) -> dict[str, dict[str, Any]]:
  """Pre-trains (or reuses) the three models of one seed and measures each:
  held-out MLM accuracy, NN translation per layer and pair, XNLI-style
  accuracy per language."""
  seed_dir = os.path.join(work_dir, f"seed_{seed}")
  metrics, checkpoints = {}, []
  for model in MODELS:
    params = pretraining.PretrainingParams(
        model_dir=os.path.join(seed_dir, model.name),
        config_file=configs[model.name], input_dir=data.pretrain_dir,
        eval_input_dir=data.heldout_dir, seed=seed, num_train_steps=steps,
        num_warmup_steps=steps // 10,
        save_checkpoints_steps=max(1, steps // 4), **PRETRAINING)
    settings = dataclasses.asdict(params)
    del settings["model_dir"]
    key = f"seed_{seed}/{model.name}/pretraining"
    metrics[model.name] = report.run_once(
        params.model_dir, settings,
        os.path.join(params.model_dir, pretraining.METRICS_FILE),
        lambda p=params, k=key: _timed(
            timing, k, lambda: pretraining.run_pretraining(p), steps=steps))
    checkpoints.append(report.Checkpoint(model.label, params.model_dir,
                                         configs[model.name]))
  template = classifier_run.ClassifierParams(
      model_dir=seed_dir, config_file=configs[MODELS[0].name],
      data_dir=data.xnli_dir, num_train_epochs=finetuning_epochs, seed=seed,
      **FINETUNING)
  xnli = _timed(timing, f"seed_{seed}/xnli", lambda: layer_drop.fine_tune(
      checkpoints, template, [0], os.path.join(seed_dir, "xnli", "runs")))
  nn = {pair: _timed(timing, f"seed_{seed}/nn_{pair}",
                     lambda p=pair: nn_translation.translate(
                         data.pairs[p], checkpoints, data.sp_model_file,
                         os.path.join(seed_dir, f"nn_{p}"),
                         languages=p.split("-"))) for pair in data.pairs}
  results = {}
  for i, model in enumerate(MODELS):
    dev = xnli[i]["runs"][0]["results"]["eval"]["dev"]
    results[model.name] = {
        "mlm_accuracy": metrics[model.name]["eval_accuracy"],
        "nn": {pair: nn[pair]["checkpoints"][i]["accuracy"] for pair in nn},
        "xnli": {**{lang: dev["accuracy"][lang]
                    for lang in demo_corpus.LANGUAGES},
                 "average": dev["average"]}}
  return results


def _stats(values: Sequence[float]) -> dict[str, Any]:
  return {"mean": statistics.fmean(values),
          "std": statistics.stdev(values) if len(values) > 1 else None,
          "values": list(values)}


def summarize(per_seed: Mapping[int, Mapping[str, Mapping[str, Any]]]
              ) -> dict[str, dict[str, Any]]:
  """Mean, sample standard deviation and each seed's value of every number,
  per model."""
  runs = list(per_seed.values())
  summary = {}
  for model in MODELS:
    seeds = [run[model.name] for run in runs]
    summary[model.name] = {
        "mlm_accuracy": _stats([s["mlm_accuracy"] for s in seeds]),
        "nn": {pair: [_stats([s["nn"][pair][layer] for s in seeds])
                      for layer in range(len(curve))]
               for pair, curve in seeds[0]["nn"].items()},
        "xnli": {lang: _stats([s["xnli"][lang] for s in seeds])
                 for lang in seeds[0]["xnli"]}}
  return summary


def _cell(stats: Mapping[str, Any]) -> str:
  if stats["std"] is None:
    return f"{stats['mean']:.3f}"
  return f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def table(summary: Mapping[str, Any], models: Mapping[str, Any],
          heading: str) -> str:
  """The markdown table: a row per number, a column per model."""
  first = summary[MODELS[0].name]
  rows = [("Eout", [str(models[m.name]["output_embedding_size"]) for m in
                    MODELS]),
          ("pre-training parameters",
           [f"{models[m.name]['pretraining_params']:,}" for m in MODELS]),
          ("fine-tuning parameters",
           [f"{models[m.name]['finetuning_params']:,}" for m in MODELS]),
          ("held-out MLM accuracy",
           [_cell(summary[m.name]["mlm_accuracy"]) for m in MODELS])]
  for pair, curve in first["nn"].items():
    rows += [(f"NN {pair.replace('-', '→')}, layer {layer}"
              + (" (embedding output)" if layer == 0 else ""),
              [_cell(summary[m.name]["nn"][pair][layer]) for m in MODELS])
             for layer in range(len(curve))]
  rows += [(f"XNLI-style {lang}", [_cell(summary[m.name]["xnli"][lang])
                                   for m in MODELS])
           for lang in first["xnli"]]
  lines = [heading, "", "| | " + " | ".join(m.label for m in MODELS) + " |",
           "|---|" + "---:|" * len(MODELS)]
  lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
  return "\n".join(lines) + "\n"


def _plots(summary: Mapping[str, Any], pairs: Mapping[str, int],
           seeds: Sequence[int], work_dir: str) -> dict[str, Any]:
  """Figure 2 per pair, and XNLI-style accuracy per language, per model;
  error bars are the standard deviation over seeds, as the titles say."""
  spread = (f" (mean of seeds {', '.join(map(str, seeds))}; bars ±1 sample "
            "standard deviation)" if len(seeds) > 1 else f" (seed {seeds[0]})")
  def series(label: str, x: Sequence[Any], stats: Sequence[Mapping[str, Any]]
             ) -> report.Series:
    errors = [s["std"] for s in stats]
    return report.Series(label, x, [s["mean"] for s in stats],
                         None if None in errors else errors)
  nn = [report.Panel(pair.replace("-", "→"), [
      series(m.label, range(len(summary[m.name]["nn"][pair])),
             summary[m.name]["nn"][pair]) for m in MODELS],
                     chance=1 / size) for pair, size in pairs.items()]
  languages = list(summary[MODELS[0].name]["xnli"])
  xnli = report.Panel("fine-tuned on English", [
      series(m.label, languages,
             [summary[m.name]["xnli"][lang] for lang in languages])
      for m in MODELS], chance=1 / len(demo_corpus.XNLI_LABELS))
  return {
      "nn_translation": report.line_plot(
          os.path.join(work_dir, NN_PLOT), "Nearest-neighbour translation "
          "accuracy per layer, held-out parallel sentences" + spread, nn,
          nn_translation.XLABEL, nn_translation.YLABEL),
      "xnli": report.bar_plot(
          os.path.join(work_dir, XNLI_PLOT), "Zero-shot XNLI-style accuracy "
          "per language (dev)" + spread, xnli, "language (average: mean of the 8)",
          "accuracy (fraction of dev pairs, 0-1)")}


def run_study(work_dir: str, seeds: Sequence[int], steps: int,
              finetuning_epochs: float) -> dict[str, Any]:
  """Every seed's runs (reused when finished), then the table and plots.

  Raises:
    AnalysisError: `work_dir` holds a study of another budget or sizes.
  """
  if steps < 1 or finetuning_epochs <= 0 or not seeds:
    raise report.AnalysisError(
        f"--steps ({steps}) and --finetuning_epochs ({finetuning_epochs}) "
        "must be positive, and --seeds must name at least one seed")
  os.makedirs(work_dir, exist_ok=True)
  budget = {"steps": steps, "finetuning_epochs": finetuning_epochs,
            "sizes": SIZES, "models": [dataclasses.asdict(m) for m in MODELS],
            "pretraining": PRETRAINING, "finetuning": FINETUNING}
  report.record_settings(work_dir, budget)
  timing: dict[str, Any] = {}
  data = _timed(timing, "data", lambda: prepare_data(work_dir))
  configs, models = {}, {}
  for model in MODELS:
    config = model_config(model, data)
    configs[model.name] = os.path.join(work_dir, "configs",
                                       f"{model.name}.json")
    config.to_json_file(configs[model.name])
    models[model.name] = {
        "label": model.label, "config": config.to_dict(),
        "output_embedding_size": config.output_embedding_size,
        "pretraining_params": param_count.pretraining_params(config),
        "finetuning_params": param_count.finetuning_params(config)}
  per_seed = {seed: run_seed(seed, data, configs, work_dir, steps,
                             finetuning_epochs, timing) for seed in seeds}
  summary = summarize(per_seed)
  pairs = {pair: len(p.source) for pair, p in data.pairs.items()}
  heading = (f"Eout study on the embedded corpus: seeds "
             f"{', '.join(map(str, seeds))}; pre-training steps: {steps}; "
             f"fine-tuning epochs: {finetuning_epochs:g}; NN translation on "
             + ", ".join(f"{n} {pair} pairs" for pair, n in pairs.items())
             + (" (cells: mean ± sample standard deviation over seeds)"
                if len(seeds) > 1 else ""))
  markdown = table(summary, models, heading)
  file_io.write_text(os.path.join(work_dir, TABLE_FILE), markdown)
  results = {"budget": budget, "seeds": list(seeds), "models": models,
             "pairs": pairs, "per_seed": per_seed, "summary": summary,
             "plots": _plots(summary, pairs, seeds, work_dir), "table": TABLE_FILE,
             "png": [NN_PLOT, XNLI_PLOT], "timing": timing}
  path = os.path.join(work_dir, RESULTS_FILE)
  file_io.write_json(path, results)
  return file_io.read_json(path)  # JSON's types: seeds as keys are strings.


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  f = flags.FLAGS

  def run() -> None:
    results = run_study(f.work_dir, report.integers("seeds", f.seeds),
                        f.steps, f.finetuning_epochs)
    with open(os.path.join(f.work_dir, TABLE_FILE), encoding="utf-8") as text:
      print(text.read())
    for key, spent in results["timing"].items():
      print(f"{key}: {spent['wall_s']:.0f} s wall, {spent['cpu_s']:.0f} s "
            "CPU")
    for name in (TABLE_FILE, RESULTS_FILE, NN_PLOT, XNLI_PLOT):
      print(os.path.join(f.work_dir, name))
  report.exit_on_user_error("eout_study", run)


if __name__ == "__main__":
  flags.DEFINE_string("work_dir", "out/study", "Runs, table and plots.")
  flags.DEFINE_list("seeds", ["1"], "Seeds of pre-training and fine-tuning; "
                    "several give the mean and standard deviation.")
  flags.DEFINE_integer("steps", 800, "Pre-training steps of each model.")
  flags.DEFINE_float("finetuning_epochs", 8.0, "XNLI-style fine-tuning "
                     "epochs of each model.")
  app.run(main)
