"""Tests for rembert_tf.data.demo_corpus."""

import filecmp
import json
import os
import unicodedata

import pytest

import rembert_tf  # noqa: F401  Sets the TensorFlow env defaults first.
from official.nlp.data import classifier_data_lib
from official.nlp.data import squad_lib_sp
from rembert_tf.data import demo_corpus
from rembert_tf.tasks.tagging import data as tagging_data
from rembert_tf.tasks.tagging import metrics as tagging_metrics

_UPOS = {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
         "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"}

_SCRIPT_RANGES = {"Latin": [(0x41, 0x24F), (0x1E00, 0x1EFF)],
                  "Cyrillic": [(0x400, 0x4FF)], "Arabic": [(0x600, 0x6FF)],
                  "Devanagari": [(0x900, 0x97F)], "Han": [(0x4E00, 0x9FFF)]}


def _script_of(char):
  for script, ranges in _SCRIPT_RANGES.items():
    if any(lo <= ord(char) <= hi for lo, hi in ranges):
      return script
  return None


def _read(path):
  with open(path, encoding="utf-8") as f:
    return f.read()


def test_deterministic(tmp_path):
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  demo_corpus.write_demo_corpus(a, num_documents=30, num_train=10, num_eval=5)
  demo_corpus.write_demo_corpus(b, num_documents=30, num_train=10, num_eval=5)
  files = [os.path.relpath(os.path.join(d, f), a)
           for d, _, fs in os.walk(a) for f in fs]
  assert len(files) == 1 + 8 + 5 * (1 + 2 * 8)  # Manifest, text, 5 tasks.
  _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
  assert not mismatch and not errors


def test_languages_scripts_and_parallel_lines(demo_root):
  assert len(demo_corpus.LANGUAGES) >= 6
  assert len(set(demo_corpus.SCRIPTS.values())) >= 4
  layouts = {}
  for lang in demo_corpus.LANGUAGES:
    text = _read(f"{demo_root}/pretrain/{lang}/demo.txt")
    scripts = [s for s in map(_script_of, text.replace("\n", "")) if s]
    # Latin letters inside non-Latin text would mean untranslated words.
    assert set(scripts) == {demo_corpus.SCRIPTS[lang]}, lang
    lines = text.split("\n")
    layouts[lang] = [bool(line) for line in lines]
    assert len(lines) > 600 and text.count("\n\n") == 120
  assert len({tuple(v) for v in layouts.values()}) == 1  # Same sentence per line.


def test_text_keeps_combining_marks(demo_root):
  hi = _read(f"{demo_root}/pretrain/hi/demo.txt")
  vi = _read(f"{demo_root}/pretrain/vi/demo.txt")
  assert "\u094d" in hi  # Devanagari virama, as in "अन्ना".
  assert "Hà Nội" in vi or "Bắc Kinh" in vi
  assert any(unicodedata.decomposition(c) for c in vi)


def test_classification_sets(demo_root):
  for task, labels in [("xnli", set(demo_corpus.XNLI_LABELS)), ("pawsx", {"0", "1"})]:
    per_lang = {}
    for lang in demo_corpus.LANGUAGES:
      for split in ("dev", "test"):
        rows = [l.split("\t") for l in _read(
            f"{demo_root}/{task}/{split}-{lang}.tsv").splitlines()]
        assert len(rows) == 12 and all(len(r) == 3 and r[0] and r[1] for r in rows)
        assert {r[2] for r in rows} <= labels
        per_lang[lang, split] = [r[2] for r in rows]
    assert len({tuple(v) for k, v in per_lang.items() if k[1] == "dev"}) == 1
  # tf-models-official's XTREME processors read the layout as is.
  xnli = classifier_data_lib.XtremeXnliProcessor(process_text_fn=str)
  train = xnli.get_train_examples(f"{demo_root}/xnli")
  assert len(train) == 40 and {e.label for e in train} == set(demo_corpus.XNLI_LABELS)
  pawsx = classifier_data_lib.XtremePawsxProcessor(process_text_fn=str)
  assert {e.label for e in pawsx.get_dev_examples(f"{demo_root}/pawsx")} == {"0", "1"}


@pytest.mark.parametrize(
    "name", ["train-en"] + [f"dev-{l}" for l in demo_corpus.LANGUAGES])
def test_squad_answers_are_spans(demo_root, name):
  path = f"{demo_root}/squad/{name}.json"
  data = json.loads(_read(path))
  assert data["version"] == "1.1"
  count = 0
  for article in data["data"]:
    for paragraph in article["paragraphs"]:
      context = paragraph["context"]
      for qa in paragraph["qas"]:
        (answer,) = qa["answers"]
        start = answer["answer_start"]
        assert context[start:start + len(answer["text"])] == answer["text"]
        count += 1
  assert count >= 2 * len(data["data"])
  examples = squad_lib_sp.read_squad_examples(path, True, False)
  assert len(examples) == count


def test_facts_agree_across_seeds(tmp_path):
  """Held-out text (another seed) states the same home city per person."""
  homes = {}
  for seed in (0, 1, 2):
    root = str(tmp_path / str(seed))
    demo_corpus.write_pretraining_text(root, 40, seed)
    text = _read(f"{root}/pretrain/en/demo.txt")
    for line in text.splitlines():
      if " lives in " in line:
        person, city = line.rstrip(".").split(" lives in ")
        homes.setdefault(person, set()).add(city)
    assert text != _read(f"{tmp_path}/0/pretrain/en/demo.txt") or seed == 0
  assert len(homes) == 8 and all(len(c) == 1 for c in homes.values())


def _tagged(root, task, name):
  return tagging_data.read_file(f"{root}/{task}/{name}.tsv", name[-2:])


def test_tagging_sets_are_parallel_and_tagged_by_slot(demo_root):
  with open(f"{demo_root}/{demo_corpus.MANIFEST}", encoding="utf-8") as f:
    counts = json.load(f)["tagging"]
  assert counts["sentences"] == {"train": 40, "dev": 12, "test": 12}
  train_pos = {l for s in _tagged(demo_root, "udpos", "train-en")
               for l in s.labels}
  entity_types = {}
  for lang in demo_corpus.LANGUAGES:
    ner, pos = (_tagged(demo_root, t, f"dev-{lang}") for t in ("panx", "udpos"))
    assert len(ner) == len(pos) == 12
    assert [s.words for s in ner] == [s.words for s in pos]
    assert sum(len(s.words) for s in ner) == counts["words"][f"dev-{lang}"]
    for n, p in zip(ner, pos):
      assert set(n.labels) <= set(demo_corpus.NER_LABELS)
      assert set(p.labels) <= train_pos <= _UPOS  # English covers every tag.
      # Entities are the people, cities and employers: proper nouns, and
      # every proper noun is one.
      assert [l != "O" for l in n.labels] == [l == "PROPN" for l in p.labels]
      assert all(w.strip() and " " not in w for w in n.words)
    # The same facts in every language: the same entity types per sentence.
    entity_types[lang] = [sorted(t for t, _, _ in tagging_metrics.entities(
        s.labels)) for s in ner]
  assert len({json.dumps(v) for v in entity_types.values()}) == 1
  assert {"PER", "LOC", "ORG"} <= {t for s in entity_types["en"] for t in s}
  vi = _tagged(demo_root, "panx", "test-vi")
  spans = [(s.words[a:b + 1], t) for s in vi
           for t, a, b in tagging_metrics.entities(s.labels)]
  assert all(t == "LOC" for words, t in spans if words in (("Hà", "Nội"),
                                                           ("Bắc", "Kinh")))
