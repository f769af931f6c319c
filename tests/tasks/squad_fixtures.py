"""The embedded SQuAD sets and a small SentencePiece model, built once per run.

Test modules wrap `build` in their own session fixture; the module-level cache
makes every module share one build (a fixture imported into several modules
would run once per module).
"""

import dataclasses
import os

from rembert_tf.data import demo_corpus
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.tasks.squad import features as squad_features

_CACHE = {}


@dataclasses.dataclass(frozen=True)
class SquadFixture:
  corpus: str  # <corpus>/squad/{train-en,dev-<lang>,test-<lang>}.json
  sp_model: str
  vocab: sentencepiece_vocab.Vocab
  root: str

  def squad_file(self, name: str) -> str:
    return os.path.join(self.corpus, "squad", name + ".json")


def build(tmp_path_factory) -> SquadFixture:
  """The demo corpus (40 documents) and a 300-piece model, as the demo trains
  its model (sentencepiece_vocab.train_model on every language's text)."""
  if "fixture" not in _CACHE:
    root = str(tmp_path_factory.mktemp("squad"))
    corpus = os.path.join(root, "corpus")
    demo_corpus.write_pretraining_text(corpus, num_documents=40, seed=0)
    demo_corpus.write_finetuning_sets(corpus, seed=0, num_train=48,
                                      num_eval=10)
    texts = [os.path.join(corpus, "pretrain", lang, "demo.txt")
             for lang in demo_corpus.LANGUAGES]
    sp_model = sentencepiece_vocab.train_model(
        texts, os.path.join(root, "spm", "squad"), vocab_size=300)
    _CACHE["fixture"] = SquadFixture(
        corpus, sp_model, sentencepiece_vocab.load_vocab(sp_model), root)
  return _CACHE["fixture"]


def eval_features(examples, features):
  """EvalFeatures of in-memory features: what `load_eval_features` reads
  back from a prepared directory, without writing one."""
  return squad_features.EvalFeatures(
      [e.qas_id for e in examples], [e.context for e in examples],
      [[a.text for a in e.answers] for e in examples],
      [e.is_impossible for e in examples], features.example_index,
      features.window_index, features.token_char_starts,
      features.token_char_ends, features.token_is_max_context)
