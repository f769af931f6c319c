"""Tiny task data, SentencePiece model, config and pre-trained encoder, once per session.

Also one short SQuAD fine-tuning run (`squad_run`) shared by the QA tests, and
one NER run (`tagging_run`) shared by the tagging tests.
"""

import dataclasses
import json
import os
import sys
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from rembert_tf.data import demo_corpus
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.tasks.classification import run as classifier_training
from rembert_tf.tasks.squad import run as squad_training
from rembert_tf.tasks.tagging import features as tagging_features
from rembert_tf.tasks.tagging import run as tagging_training
from tests.conftest import tiny_config
from tests.tasks import squad_fixtures

LANGUAGES = ("en", "de", "hi", "zh")
SEQ_LENGTH = 32
# QA windows: small enough that most contexts need two or three.
SQUAD_SEQ_LENGTH = 48
SQUAD_DOC_STRIDE = 16
SQUAD_QUERY_LENGTH = 16
NER_LABELS = demo_corpus.NER_LABELS
# A fresh process's script starts so: the token-ids SavedModel (argv[2])
# loads without tensorflow_text and gives `logits` for the ids in argv[3];
# then the raw-text SavedModel (argv[1]) loads as `text_model`.
RELOAD_SAVED_MODELS = r"""
import sys
import numpy as np
import tensorflow as tf
ids = np.load(sys.argv[3])
ids_model = tf.saved_model.load(sys.argv[2])
assert "tensorflow_text" not in sys.modules
logits = ids_model.signatures["serving_default"](
    input_word_ids=tf.constant(ids[0]), input_mask=tf.constant(ids[1]),
    input_type_ids=tf.constant(ids[2]))["logits"].numpy()
import tensorflow_text  # Registers the ops the raw-text model needs.
text_model = tf.saved_model.load(sys.argv[1])
"""


def _pretrained_encoder(vocab: sentencepiece_vocab.Vocab, root: str,
                        max_positions: int) -> tuple[str, str]:
  """A tiny config of the vocabulary's ids and its encoder-only export (what
  pre-training writes, no pooler); returns (config file, checkpoint)."""
  config = tiny_config(vocab_size=vocab.vocab_size,
                       max_position_embeddings=max_positions,
                       pad_token_id=vocab.special.pad,
                       bos_token_id=vocab.special.cls,
                       eos_token_id=vocab.special.sep)
  config_file = os.path.join(root, "tiny.json")
  config.to_json_file(config_file)
  encoder = RemBertEncoder(config, add_pooling_layer=False)
  encoder(encoder.dummy_inputs())
  checkpoint = tf.train.Checkpoint(encoder=encoder).write(
      os.path.join(root, "pretraining", "encoder", "encoder-1"))
  return config_file, checkpoint


def wider_config_file(config_file: str, directory) -> str:
  """A config like `config_file` but wider: its checkpoints must not load."""
  wider = RemBertConfig.from_json_file(config_file).replace(
      hidden_size=24, num_attention_heads=4)
  path = os.path.join(str(directory), "wider.json")
  wider.to_json_file(path)
  return path


def assert_bottom_layers_fine_tuned(model_dir: str, encoder_checkpoint: str,
                                    max_change: float) -> list[str]:
  """The fine-tuned checkpoint holds layers 0 and 1 only, and layer 0 moved
  (a little) from its pre-trained value; returns the checkpoint's names."""
  latest = tf.train.latest_checkpoint(model_dir)
  names = [k for k, _ in tf.train.list_variables(latest)]
  layers = {k.split("/")[2] for k in names
            if k.startswith("encoder/transformer_layers/")}
  assert layers == {"0", "1"}
  key = ("encoder/transformer_layers/0/_attention_layer/_query_dense/kernel/"
         ".ATTRIBUTES/VARIABLE_VALUE")
  pretrained = tf.train.load_checkpoint(encoder_checkpoint).get_tensor(key)
  finetuned = tf.train.load_checkpoint(latest).get_tensor(key)
  assert 0 < np.abs(pretrained - finetuned).max() < max_change
  return names


@dataclasses.dataclass(frozen=True)
class TaskFixture:
  corpus: str  # <corpus>/xnli/{train-en,dev-<lang>}.tsv
  sp_model: str
  data_dir: str  # prepared TFRecords (dev split, LANGUAGES)
  config_file: str  # 3 layers, the vocabulary's ids
  encoder_checkpoint: str  # encoder-only export, no pooler
  root: str

  def params(self, model_dir: str, **changes) -> classifier_training.ClassifierParams:
    values = dict(config_file=self.config_file, data_dir=self.data_dir,
                  model_dir=model_dir, init_checkpoint=self.encoder_checkpoint,
                  max_seq_length=SEQ_LENGTH, train_batch_size=8,
                  eval_batch_size=8, learning_rate=1e-3, num_train_epochs=1.0,
                  steps_per_loop=3, save_checkpoints_steps=3,
                  distribution_strategy="one_device", do_export=False)
    values.update(changes)
    return classifier_training.ClassifierParams(**values)


@pytest.fixture(scope="session")
def task_fixture(tmp_path_factory) -> TaskFixture:
  root = str(tmp_path_factory.mktemp("tasks"))
  corpus = os.path.join(root, "corpus")
  demo_corpus.write_pretraining_text(corpus, num_documents=40, seed=0)
  demo_corpus.write_finetuning_sets(corpus, seed=0, num_train=48, num_eval=10)
  texts = [os.path.join(corpus, "pretrain", lang, "demo.txt")
           for lang in demo_corpus.LANGUAGES]
  sp_model = sentencepiece_vocab.train_model(
      texts, os.path.join(root, "spm", "tiny"), vocab_size=300, num_threads=1)
  data_dir = os.path.join(root, "xnli_data")
  classifier_features.create_classifier_data(
      "xnli", os.path.join(corpus, "xnli"), sp_model, data_dir,
      max_seq_length=SEQ_LENGTH, languages=LANGUAGES, eval_splits=("dev",))
  config_file, checkpoint = _pretrained_encoder(
      sentencepiece_vocab.load_vocab(sp_model), root, max_positions=40)
  return TaskFixture(corpus, sp_model, data_dir, config_file, checkpoint, root)


@pytest.fixture(scope="session")
def trained_run(task_fixture) -> tuple[str, dict]:
  """Fine-tunes 2 of the 3 layers for 6 steps, evaluates and exports."""
  model_dir = os.path.join(task_fixture.root, "run")
  results = classifier_training.run_classifier(task_fixture.params(
      model_dir, num_layers_to_keep=2, do_export=True))
  with open(os.path.join(model_dir, classifier_training.RESULTS_FILE)) as f:
    assert json.load(f) == json.loads(json.dumps(results))
  return model_dir, results


@dataclasses.dataclass(frozen=True)
class SquadTask:
  squad: squad_fixtures.SquadFixture
  config_file: str  # 3 layers, the vocabulary's ids, 64 positions
  encoder_checkpoint: str  # encoder-only export, no pooler
  root: str

  def predict_pattern(self) -> str:
    return os.path.join(self.squad.corpus, "squad", "dev-{lang}.json")

  def params(self, model_dir: str, **changes) -> squad_training.SquadParams:
    values = dict(config_file=self.config_file, model_dir=model_dir,
                  init_checkpoint=self.encoder_checkpoint,
                  sp_model_file=self.squad.sp_model,
                  train_file=self.squad.squad_file("train-en"),
                  predict_file=self.predict_pattern(),
                  predict_languages=LANGUAGES,
                  max_seq_length=SQUAD_SEQ_LENGTH,
                  doc_stride=SQUAD_DOC_STRIDE,
                  max_query_length=SQUAD_QUERY_LENGTH, train_batch_size=16,
                  eval_batch_size=16, learning_rate=2e-3,
                  num_train_epochs=1.0, steps_per_loop=10,
                  save_checkpoints_steps=20,
                  distribution_strategy="one_device", do_export=False)
    values.update(changes)
    return squad_training.SquadParams(**values)


def predict_squad_cli(squad_task: "SquadTask", predict_file: str,
                      model_dir: str, repo_root: str
                      ) -> subprocess.CompletedProcess:
  """`run_squad.py --nodo_train` on one German file, in a fresh process."""
  return subprocess.run(
      [sys.executable, "run_squad.py",
       f"--config_file={squad_task.config_file}",
       f"--sp_model_file={squad_task.squad.sp_model}",
       f"--init_checkpoint={squad_task.encoder_checkpoint}",
       f"--model_dir={model_dir}", f"--predict_file={predict_file}",
       "--predict_languages=de", "--nodo_train",
       f"--max_seq_length={SQUAD_SEQ_LENGTH}", "--doc_stride=16",
       "--max_query_length=16"],
      cwd=repo_root, capture_output=True, text=True, check=False,
      env={**os.environ, "TF_USE_LEGACY_KERAS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.fixture(scope="session")
def squad_task(tmp_path_factory) -> SquadTask:
  squad = squad_fixtures.build(tmp_path_factory)
  root = str(tmp_path_factory.mktemp("squad_task"))
  config_file, checkpoint = _pretrained_encoder(squad.vocab, root,
                                                max_positions=64)
  return SquadTask(squad, config_file, checkpoint, root)


@pytest.fixture(scope="session")
def squad_run(squad_task) -> tuple[str, dict]:
  """Fine-tunes 2 of the 3 layers for one epoch, predicts every language and
  exports."""
  model_dir = os.path.join(squad_task.root, "run")
  results = squad_training.run_squad(squad_task.params(
      model_dir, num_layers_to_keep=2, do_export=True))
  with open(os.path.join(model_dir, squad_training.RESULTS_FILE)) as f:
    assert json.load(f) == json.loads(json.dumps(results))
  return model_dir, results


@dataclasses.dataclass(frozen=True)
class TaggingTask:
  corpus: str  # <corpus>/{panx,udpos}/{train-en,dev-<lang>}.tsv
  data_dir: str  # prepared NER data (dev split, LANGUAGES)
  task: TaskFixture

  def params(self, model_dir: str,
             **changes) -> tagging_training.TaggingParams:
    """The classifier fixture's settings (the same flags) on the NER data."""
    values = self.task.params(
        model_dir, **{"data_dir": self.data_dir, "learning_rate": 3e-3,
                      "steps_per_loop": 10, "save_checkpoints_steps": 10,
                      **changes})
    return tagging_training.TaggingParams(**dataclasses.asdict(values))


@pytest.fixture(scope="session")
def tagging_task(task_fixture) -> TaggingTask:
  corpus = os.path.join(task_fixture.root, "tagging_corpus")
  demo_corpus.write_tagging_sets(corpus, seed=0, num_train=64, num_eval=12)
  data_dir = os.path.join(task_fixture.root, "panx_data")
  tagging_features.create_tagging_data(
      "panx", os.path.join(corpus, "panx"), task_fixture.sp_model, data_dir,
      max_seq_length=SEQ_LENGTH, languages=LANGUAGES, labels=NER_LABELS,
      eval_splits=("dev",))
  return TaggingTask(corpus, data_dir, task_fixture)


@pytest.fixture(scope="session")
def tagging_run(tagging_task) -> tuple[str, dict]:
  """Fine-tunes 2 of the 3 layers for one epoch, tags every language and
  exports."""
  model_dir = os.path.join(tagging_task.task.root, "tagging_run")
  results = tagging_training.run_tagging(tagging_task.params(
      model_dir, num_layers_to_keep=2, do_export=True))
  with open(os.path.join(model_dir, tagging_training.RESULTS_FILE)) as f:
    assert json.load(f) == json.loads(json.dumps(results))
  return model_dir, results
