"""The Eout study's orchestration and table, on stubbed runs (no training)."""

import os
import statistics

import pytest

from rembert_tf import file_io
from rembert_tf.analysis import eout_study
from rembert_tf.analysis import layer_drop
from rembert_tf.analysis import nn_translation
from rembert_tf.analysis import report
from rembert_tf.data.demo_corpus import LANGUAGES
from rembert_tf.data.sentencepiece_vocab import SpecialIds
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.pretraining import run as pretraining

NAMES = [m.name for m in eout_study.MODELS]
LABELS = {m.label: m.name for m in eout_study.MODELS}
PAIRS = {"en-de": 2, "en-hi": 3}


def _value(model: str, seed: int, offset: float) -> float:
  """A made-up result of each run: different per model, seed and number."""
  return round(0.1 * (NAMES.index(model) + 1) + 0.01 * seed + offset, 6)


class FakeRuns:
  """Stands in for data prep, pre-training, fine-tuning and NN translation,
  recording what the study asked of each."""

  def __init__(self, monkeypatch):
    self.pretrained, self.finetuned = [], []
    monkeypatch.setattr(eout_study, "prepare_data", self.prepare_data)
    monkeypatch.setattr(pretraining, "run_pretraining", self.pretrain)
    monkeypatch.setattr(layer_drop, "fine_tune", self.fine_tune)
    monkeypatch.setattr(nn_translation, "translate", self.translate)

  def prepare_data(self, work_dir):
    return eout_study.StudyData(
        "spm.model", 100, SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4),
        "train", "heldout", "xnli",
        {pair: nn_translation.Pairs(["s"] * n, ["t"] * n, "fake")
         for pair, n in PAIRS.items()})

  def pretrain(self, params):
    self.pretrained.append(params)
    model = os.path.basename(params.model_dir)
    file_io.write_json(
        os.path.join(params.model_dir, pretraining.METRICS_FILE),
        {"eval_accuracy": _value(model, params.seed, 0.0)})

  def fine_tune(self, checkpoints, template, layers_removed, runs_dir):
    self.finetuned.append((template, list(layers_removed)))
    results = []
    for checkpoint in checkpoints:
      model = LABELS[checkpoint.label]
      accuracy = {lang: _value(model, template.seed, i / 100)
                  for i, lang in enumerate(LANGUAGES)}
      results.append({"runs": [{"results": {"eval": {"dev": {
          "accuracy": accuracy,
          "average": statistics.fmean(accuracy.values())}}}}]})
    return results

  def translate(self, pairs, checkpoints, sp_model_file, output_dir,
                languages):
    seed = int(output_dir.split("seed_")[1].split(os.sep)[0])
    return {"checkpoints": [
        {"accuracy": [_value(LABELS[c.label], seed,
                             layer / 10 + len(pairs.source))
                      for layer in range(5)]} for c in checkpoints]}


def test_table_and_plots_from_every_seed(monkeypatch, tmp_path):
  runs = FakeRuns(monkeypatch)
  work_dir = str(tmp_path / "study")
  results = eout_study.run_study(work_dir, [1, 2], steps=7,
                                 finetuning_epochs=1.0)
  # Every model of each seed pre-trained with that seed and the same steps.
  assert sorted((p.seed, os.path.basename(p.model_dir), p.num_train_steps)
                for p in runs.pretrained) == sorted(
                    (s, n, 7) for s in (1, 2) for n in NAMES)
  assert [(t.seed, t.num_train_epochs, k) for t, k in runs.finetuned] == [
      (1, 1.0, [0]), (2, 1.0, [0])]
  # Equal fine-tuning size, three pre-training sizes.
  configs = {name: RemBertConfig.from_json_file(
      os.path.join(work_dir, "configs", f"{name}.json")) for name in NAMES}
  assert {(c.input_embedding_size, c.hidden_size, c.num_hidden_layers)
          for c in configs.values()} == {(128, 128, 4)}
  assert [c.output_embedding_size for c in configs.values()] == [128, 32, 512]
  assert configs["coupled"].tie_word_embeddings
  models = results["models"]
  assert len({models[n]["finetuning_params"] for n in NAMES}) == 1
  assert len({models[n]["pretraining_params"] for n in NAMES}) == 3
  # Mean and sample standard deviation over the two seeds.
  mlm = results["summary"]["large_eout"]["mlm_accuracy"]
  values = [_value("large_eout", s, 0.0) for s in (1, 2)]
  assert mlm == {"mean": pytest.approx(statistics.fmean(values)),
                 "std": pytest.approx(statistics.stdev(values)),
                 "values": values}
  with open(os.path.join(work_dir, eout_study.TABLE_FILE),
            encoding="utf-8") as f:
    table = f.read()
  assert "| held-out MLM accuracy | 0.115 ± 0.007 | 0.215 ± 0.007 | " \
         "0.315 ± 0.007 |" in table
  assert "| NN en→hi, layer 4 | 3.515 ± 0.007 |" in table
  assert "| XNLI-style average |" in table
  assert table.count("| NN en→de, layer") == 5
  # Every plotted number is in the JSON, the PNGs are written.
  nn_panels = results["plots"]["nn_translation"]["panels"]
  assert results["plots"]["nn_translation"]["title"].endswith(
      "(mean of seeds 1, 2; bars ±1 sample standard deviation)")
  assert [(p["title"], p["chance"]) for p in nn_panels] == [
      ("en→de", 1 / 2), ("en→hi", 1 / 3)]
  (coupled, *_) = nn_panels[0]["series"]
  assert coupled["x"] == [0, 1, 2, 3, 4]
  assert coupled["y"] == pytest.approx(
      [s["mean"] for s in results["summary"]["coupled"]["nn"]["en-de"]])
  assert coupled["error"] == pytest.approx([0.00707107] * 5)
  xnli = results["plots"]["xnli"]["panels"][0]["series"]
  assert [s["x"] for s in xnli] == [[*LANGUAGES, "average"]] * 3
  assert file_io.read_json(os.path.join(work_dir,
                                        eout_study.RESULTS_FILE)) == results
  for name in (eout_study.NN_PLOT, eout_study.XNLI_PLOT):
    with open(os.path.join(work_dir, name), "rb") as f:
      assert f.read(4) == b"\x89PNG"

  # Again: the finished pre-training runs are reused, the numbers the same.
  runs.pretrained.clear()
  again = eout_study.run_study(work_dir, [1, 2], steps=7,
                               finetuning_epochs=1.0)
  assert not runs.pretrained and again["summary"] == results["summary"]
  with pytest.raises(report.AnalysisError,
                     match=r"holds a run of other settings \(steps 7 there, "
                     r"8 now\)"):
    eout_study.run_study(work_dir, [1], steps=8, finetuning_epochs=1.0)
