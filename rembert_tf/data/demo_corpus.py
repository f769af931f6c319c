"""The embedded multilingual demo corpus and fine-tuning sets, generated
deterministically from a small hand-written lexicon (written for this
project, nothing copied).

Eight languages in five scripts: en, de, es, vi (Latin; Vietnamese keeps its
stacked diacritics), ru (Cyrillic), ar (Arabic), hi (Devanagari), zh (Han).
Every document is the same underlying content rendered in each language, so
the corpus is parallel line by line. A fixed "world" (each person's home and
work city) plus in-document repetition, gender agreement and fixed sentence
frames make most masked tokens predictable, so a tiny model's MLM accuracy
climbs within minutes on a CPU.

Layout under the output root:
  pretrain/<lang>/demo.txt     one sentence a line, blank line between docs
  xnli/train-en.tsv, xnli/{dev,test}-<lang>.tsv     text_a, text_b, label
  pawsx/train-en.tsv, pawsx/{dev,test}-<lang>.tsv   labels 0/1
  squad/train-en.json, squad/{dev,test}-<lang>.json SQuAD v1.1 JSON
  panx/train-en.tsv, panx/{dev,test}-<lang>.tsv     word<TAB>NER tag (IOB2)
  udpos/train-en.tsv, udpos/{dev,test}-<lang>.tsv   word<TAB>UPOS tag
  MANIFEST.json                written last: parameters and counts

The tagging sets (XTREME's layout, a blank line after each sentence) are the
same sentences in both: their tags come from the generator itself, which
knows each word's slot. Slot words are PER (people), LOC (cities) or ORG
(employers, a slot only the tagging sets use) entities and PROPN, or the
object's NOUN (DET for its article), the colour's ADJ; the frames' own words
have a hand-written UPOS tag per language. Words are the frames' whitespace
runs with their punctuation split off, and each word of a slot (Hà Nội, das
Auto); Chinese frames are cut into their known words, longest first.

Command line:
  python -m rembert_tf.data.demo_corpus --output_dir=out/demo/corpus
"""

import dataclasses
import json
import os
import random
import string
from typing import Any, Iterator, Sequence

from rembert_tf import file_io

from absl import app
from absl import flags


LANGUAGES = ("en", "de", "es", "vi", "ru", "ar", "hi", "zh")
SCRIPTS = {"en": "Latin", "de": "Latin", "es": "Latin", "vi": "Latin",
           "ru": "Cyrillic", "ar": "Arabic", "hi": "Devanagari", "zh": "Han"}
MANIFEST = "MANIFEST.json"
_WORLD_SEED = 0
XNLI_LABELS = ("entailment", "contradiction", "neutral")
# The NER tags (IOB2), PAN-X's set. English has no I-LOC (its cities are one
# word, other languages' are not always) and no language has an I-PER, so
# data prep takes the set from here, not from the English training file.
NER_LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
# The fine-tuning sets, each a directory of the root (recorded in the
# manifest, so a corpus written before a set existed is written again).
SETS = ("xnli", "pawsx", "squad", "panx", "udpos")

# People: gender, name per language, Russian genitive.
_PEOPLE = [
    ("f", "Anna Anna Ana Anna Анна آنا अन्ना 安娜", "Анны"),
    ("m", "Boris Boris Boris Boris Борис بوريس बोरिस 鲍里斯", "Бориса"),
    ("m", "Carlos Carlos Carlos Carlos Карлос كارلوس कार्लोस 卡洛斯", "Карлоса"),
    ("f", "Dina Dina Dina Dina Дина دينا दीना 迪娜", "Дины"),
    ("f", "Elena Elena Elena Elena Елена إيلينا एलेना 埃琳娜", "Елены"),
    ("m", "Farid Farid Farid Farid Фарид فريد फ़रीद 法里德", "Фарида"),
    ("f", "Gita Gita Gita Gita Гита غيتا गीता 吉塔", "Гиты"),
    ("m", "Igor Igor Igor Igor Игорь إيغور इगोर 伊戈尔", "Игоря"),
]
# Cities: name per language ("_" stands for a space), Russian locative.
_CITIES = [
    ("Paris Paris París Paris Париж باريس पेरिस 巴黎", "Париже"),
    ("Berlin Berlin Berlín Berlin Берлин برلين बर्लिन 柏林", "Берлине"),
    ("Madrid Madrid Madrid Madrid Мадрид مدريد मैड्रिड 马德里", "Мадриде"),
    ("Moscow Moskau Moscú Mát-xcơ-va Москва موسكو मॉस्को 莫斯科", "Москве"),
    ("Cairo Kairo El_Cairo Cairo Каир القاهرة काहिरा 开罗", "Каире"),
    ("Delhi Delhi Delhi Delhi Дели دلهي दिल्ली 德里", "Дели"),
    ("Hanoi Hanoi Hanói Hà_Nội Ханой هانوي हनोई 河内", "Ханое"),
    ("Beijing Peking Pekín Bắc_Kinh Пекин بكين बीजिंग 北京", "Пекине"),
]
# Employers (tagging sets only): name per language ("_" stands for a space).
_ORGS = [
    "Nova_Bank Nova_Bank Banco_Nova Ngân_hàng_Nova Нова_Банк بنك_نوفا "
    "नोवा_बैंक 诺瓦银行",
    "Orion_Motors Orion_Motors Orion_Motors Orion_Motors Орион_Моторс "
    "أوريون_موتورز ओरियन_मोटर्स 猎户汽车",
    "Lumen_Labs Lumen_Labs Lumen_Labs Lumen_Labs Люмен_Лабс لومن_لابز "
    "ल्यूमेन_लैब्स 流明实验室",
    "Kestrel_Foods Kestrel_Foods Kestrel_Foods Kestrel_Foods Кестрел_Фудс "
    "كيستريل_فودز केस्ट्रेल_फ़ूड्स 红隼食品",
    "Atlas Atlas Atlas Atlas Атлас أطلس एटलस 阿特拉斯",
    "Zenit_Media Zenit_Media Zenit_Media Zenit_Media Зенит_Медиа زينيت_ميديا "
    "ज़ेनिट_मीडिया 天顶传媒",
]
# Objects: form per language; es/ar/hi forms end in ":m" or ":f" (gender).
_OBJECTS = [
    "car das_Auto el_coche:m chiếc_xe машина سيارة:f गाड़ी:f 汽车",
    "book das_Buch el_libro:m cuốn_sách книга كتاب:m किताब:f 书",
    "ball der_Ball la_pelota:f quả_bóng мяч كرة:f गेंद:f 球",
    "lamp die_Lampe la_lámpara:f cái_đèn лампа مصباح:m लैंप:m 灯",
    "pen der_Stift el_bolígrafo:m cây_bút ручка قلم:m कलम:f 笔",
    "bag die_Tasche la_bolsa:f cái_túi сумка حقيبة:f थैला:m 包",
    "cup die_Tasse la_taza:f cái_cốc чашка كوب:m कप:m 杯子",
    "chair der_Stuhl la_silla:f cái_ghế стул كرسي:m कुर्सी:f 椅子",
]
# Colours: form per language; es/ar/hi give "masculine/feminine".
_COLOURS = [
    "red rot rojo/roja đỏ красного_цвета أحمر/حمراء लाल/लाल 红色",
    "blue blau azul/azul xanh_dương синего_цвета أزرق/زرقاء नीला/नीली 蓝色",
    "green grün verde/verde xanh_lá зелёного_цвета أخضر/خضراء हरा/हरी 绿色",
    "white weiß blanco/blanca trắng белого_цвета أبيض/بيضاء सफ़ेद/सफ़ेद 白色",
    "black schwarz negro/negra đen чёрного_цвета أسود/سوداء काला/काली 黑色",
    "yellow gelb amarillo/amarilla vàng жёлтого_цвета أصفر/صفراء पीला/पीली 黄色",
]

# Sentence frames; a dict picks by the grammatical subject's gender.
_TEMPLATES = {
    "lives": {
        "en": "{p} lives in {city}.", "de": "{p} wohnt in {city}.",
        "es": "{p} vive en {city}.", "vi": "{p} sống ở {city}.",
        "ru": "{p} живёт в {city}.",
        "ar": {"f": "تعيش {p} في {city}.", "m": "يعيش {p} في {city}."},
        "hi": {"f": "{p} {city} में रहती है।", "m": "{p} {city} में रहता है।"},
        "zh": "{p}住在{city}。"},
    "works": {
        "en": "{p} works in {city}.", "de": "{p} arbeitet in {city}.",
        "es": "{p} trabaja en {city}.", "vi": "{p} làm việc ở {city}.",
        "ru": "{p} работает в {city}.",
        "ar": {"f": "تعمل {p} في {city}.", "m": "يعمل {p} في {city}."},
        "hi": {"f": "{p} {city} में काम करती है।",
               "m": "{p} {city} में काम करता है।"},
        "zh": "{p}在{city}工作。"},
    "employer": {
        "en": "{p} works for {org}.", "de": "{p} arbeitet bei {org}.",
        "es": "{p} trabaja para {org}.", "vi": "{p} làm việc cho {org}.",
        "ru": "{p} работает в компании {org}.",
        "ar": {"f": "تعمل {p} في {org}.", "m": "يعمل {p} في {org}."},
        "hi": {"f": "{p} {org} में काम करती है।",
               "m": "{p} {org} में काम करता है।"},
        "zh": "{p}在{org}工作。"},
    "colour": {
        "en": "{p}'s {obj} is {colour}.", "de": "{Obj} von {p} ist {colour}.",
        "es": "{Obj} de {p} es {colour}.", "vi": "{Obj} của {p} màu {colour}.",
        "ru": "У {p_gen} {obj} {colour}.", "ar": "{obj} {p} {colour}.",
        "hi": "{p} {poss} {obj} {colour} है।", "zh": "{p}的{obj}是{colour}的。"},
    "friend": {
        "en": "{p} is a friend of {q}.",
        "de": {"f": "{p} ist eine Freundin von {q}.",
               "m": "{p} ist ein Freund von {q}."},
        "es": {"f": "{p} es amiga de {q}.", "m": "{p} es amigo de {q}."},
        "vi": "{p} là bạn của {q}.",
        "ru": {"f": "{p} — подруга {q_gen}.", "m": "{p} — друг {q_gen}."},
        "ar": {"f": "{p} صديقة {q}.", "m": "{p} صديق {q}."},
        "hi": {"f": "{p} {q} की दोस्त है।", "m": "{p} {q} का दोस्त है।"},
        "zh": "{p}是{q}的朋友。"},
    "where_live": {
        "en": "Where does {p} live?", "de": "Wo wohnt {p}?",
        "es": "¿Dónde vive {p}?", "vi": "{p} sống ở đâu?",
        "ru": "Где живёт {p}?",
        "ar": {"f": "أين تعيش {p}؟", "m": "أين يعيش {p}؟"},
        "hi": {"f": "{p} कहाँ रहती है?", "m": "{p} कहाँ रहता है?"},
        "zh": "{p}住在哪里？"},
    "what_colour": {
        "en": "What colour is {p}'s {obj}?", "de": "Welche Farbe hat {obj} von {p}?",
        "es": "¿De qué color es {obj} de {p}?", "vi": "{Obj} của {p} màu gì?",
        "ru": "Какого цвета {obj} у {p_gen}?", "ar": "ما لون {obj} {p}؟",
        "hi": "{p} {poss} {obj} किस रंग {poss} है?",
        "zh": "{p}的{obj}是什么颜色的？"},
}


def _per_language(row: str) -> dict[str, str]:
  return dict(zip(LANGUAGES, (w.replace("_", " ") for w in row.split())))


@dataclasses.dataclass(frozen=True)
class Fact:
  """One sentence's meaning: a frame plus the entity indices it uses."""
  kind: str
  p: int
  q: int = 0
  city: int = 0
  obj: int = 0
  colour: int = 0
  org: int = 0


def _slots(lang: str, fact: Fact) -> tuple[dict[str, str], str]:
  """Surface forms for every slot of a fact, and the subject's gender."""
  gender, names, p_gen = _PEOPLE[fact.p]
  _, q_names, q_gen = _PEOPLE[fact.q]
  city_names, city_loc = _CITIES[fact.city]
  obj, _, obj_gender = _per_language(_OBJECTS[fact.obj])[lang].partition(":")
  colour = _per_language(_COLOURS[fact.colour])[lang]
  if "/" in colour:
    colour = colour.split("/")[obj_gender == "f"]
  slots = {"p": _per_language(names)[lang], "p_gen": p_gen,
           "q": _per_language(q_names)[lang], "q_gen": q_gen,
           "city": city_loc if lang == "ru" else _per_language(city_names)[lang],
           "org": _per_language(_ORGS[fact.org])[lang],
           "obj": obj, "Obj": obj[:1].upper() + obj[1:], "colour": colour,
           "poss": "की" if obj_gender == "f" else "का"}
  return slots, gender


def render(lang: str, fact: Fact, answer_slot: str | None = None) -> tuple[str, int]:
  """The sentence for `fact` in `lang`, and where `answer_slot` starts in it."""
  slots, gender = _slots(lang, fact)
  template = _TEMPLATES[fact.kind][lang]
  if isinstance(template, dict):
    template = template[gender]
  offset = -1
  if answer_slot:
    offset = template.format(**{**slots, answer_slot: "\ue000"}).index("\ue000")
  return template.format(**slots), offset


def _join(lang: str) -> str:
  return "" if lang == "zh" else " "


class World:
  """Fixed facts (home and work city per person) and random document plans.

  The facts are part of the corpus definition, the same for every seed, so
  held-out text and fine-tuning sets (other seeds) agree with what
  pretraining text states; seeds only vary the documents and examples.
  """

  def __init__(self):
    rng = random.Random(_WORLD_SEED)
    self.home = [rng.randrange(len(_CITIES)) for _ in _PEOPLE]
    self.work = [(h + 1 + rng.randrange(len(_CITIES) - 1)) % len(_CITIES)
                 for h in self.home]
    self.employer = [rng.randrange(len(_ORGS)) for _ in _PEOPLE]

  def document(self, rng: random.Random) -> list[Fact]:
    """Facts of one document: a person, their friend, belongings, cities."""
    p, q = rng.sample(range(len(_PEOPLE)), 2)
    o1, o2 = rng.sample(range(len(_OBJECTS)), 2)
    facts = [Fact("lives", p, city=self.home[p]),
             Fact("works", p, city=self.work[p]),
             Fact("colour", p, obj=o1, colour=rng.randrange(len(_COLOURS))),
             Fact("friend", p, q=q),
             Fact("lives", q, city=self.home[q]),
             Fact("colour", q, obj=o2, colour=rng.randrange(len(_COLOURS)))]
    # The first two always; the rest mostly, so documents vary in length.
    return [f for i, f in enumerate(facts) if i < 2 or rng.random() < 0.85]


def documents(num_documents: int, seed: int) -> Iterator[list[Fact]]:
  world, rng = World(), random.Random(seed + 1)
  for _ in range(num_documents):
    yield world.document(rng)


def write_pretraining_text(root: str, num_documents: int, seed: int) -> None:
  """Writes `<root>/pretrain/<lang>/demo.txt`, streaming (bounded memory)."""
  for lang in LANGUAGES:
    def lines(lang=lang):
      for doc in documents(num_documents, seed):
        for fact in doc:
          yield render(lang, fact)[0] + "\n"
        yield "\n"
    file_io.write_lines(os.path.join(root, "pretrain", lang, "demo.txt"), lines())


def _xnli_example(world: World, rng: random.Random) -> tuple[list[Fact], Fact, str]:
  p = rng.randrange(len(_PEOPLE))
  obj, colour = rng.randrange(len(_OBJECTS)), rng.randrange(len(_COLOURS))
  premise = [Fact("lives", p, city=world.home[p]),
             Fact("colour", p, obj=obj, colour=colour)]
  label = rng.choice(XNLI_LABELS)
  about_city = rng.random() < 0.5
  if label == "entailment":
    hypothesis = premise[0] if about_city else premise[1]
  elif label == "contradiction":
    other_city = (world.home[p] + 1 + rng.randrange(len(_CITIES) - 1)) % len(_CITIES)
    other_colour = (colour + 1 + rng.randrange(len(_COLOURS) - 1)) % len(_COLOURS)
    hypothesis = (Fact("lives", p, city=other_city) if about_city else
                  Fact("colour", p, obj=obj, colour=other_colour))
  else:
    q = (p + 1 + rng.randrange(len(_PEOPLE) - 1)) % len(_PEOPLE)
    hypothesis = (Fact("works", p, city=world.work[p]) if about_city else
                  Fact("friend", p, q=q))
  return premise, hypothesis, label


def _pawsx_example(world: World,
                   rng: random.Random) -> tuple[list[Fact], list[Fact], str]:
  p = rng.randrange(len(_PEOPLE))
  label = rng.choice("01")
  if rng.random() < 0.5:
    a, b = world.home[p], world.work[p]
    first = [Fact("lives", p, city=a), Fact("works", p, city=b)]
    second = ([Fact("works", p, city=b), Fact("lives", p, city=a)] if label == "1"
              else [Fact("works", p, city=a), Fact("lives", p, city=b)])
  else:
    o1, o2 = rng.sample(range(len(_OBJECTS)), 2)
    c1, c2 = rng.sample(range(len(_COLOURS)), 2)
    first = [Fact("colour", p, obj=o1, colour=c1), Fact("colour", p, obj=o2, colour=c2)]
    second = ([first[1], first[0]] if label == "1" else
              [Fact("colour", p, obj=o1, colour=c2),
               Fact("colour", p, obj=o2, colour=c1)])
  return first, second, label


def _text(lang: str, facts: Sequence[Fact]) -> str:
  return _join(lang).join(render(lang, f)[0] for f in facts)


def _tsv_rows(lang: str, examples: Sequence[tuple[Any, Any, str]]) -> Iterator[str]:
  for a, b, label in examples:
    a, b = (x if isinstance(x, list) else [x] for x in (a, b))
    yield f"{_text(lang, a)}\t{_text(lang, b)}\t{label}\n"


def _squad_article(lang: str, doc: Sequence[Fact], doc_id: str) -> dict[str, Any]:
  """A paragraph with questions whose answers are spans of the context."""
  context, qas = "", []
  for i, fact in enumerate(doc):
    if i:
      context += _join(lang)
    start = len(context)
    slot = {"lives": "city", "colour": "colour"}.get(fact.kind)
    sentence, answer_offset = render(lang, fact, slot)
    context += sentence
    if slot and not any(q["fact"] == (fact.kind, fact.p) for q in qas):
      question = Fact("where_live" if slot == "city" else "what_colour", fact.p,
                      obj=fact.obj)
      answer = _slots(lang, fact)[0][slot]
      qas.append({"fact": (fact.kind, fact.p),
                  "question": render(lang, question)[0],
                  "answers": [{"text": answer,
                               "answer_start": start + answer_offset}]})
  for n, qa in enumerate(qas):
    del qa["fact"]
    qa["id"] = f"{doc_id}-{n}"
  return {"title": doc_id, "paragraphs": [{"context": context, "qas": qas}]}


# Tags of each slot's words: NER entity type (None: O) and UPOS.
_SLOT_TAGS = {"p": ("PER", "PROPN"), "q": ("PER", "PROPN"),
              "p_gen": ("PER", "PROPN"), "q_gen": ("PER", "PROPN"),
              "city": ("LOC", "PROPN"), "org": ("ORG", "PROPN"),
              "obj": (None, "NOUN"), "Obj": (None, "NOUN"),
              "colour": (None, "ADJ"), "poss": (None, "ADP")}
# Slot words whose UPOS differs from their slot's: articles, Russian's "цвета".
_SLOT_WORD_POS = {"das": "DET", "der": "DET", "die": "DET", "el": "DET",
                  "la": "DET", "цвета": "NOUN"}
# UPOS of every word of the tagging frames (lives, works, employer, colour,
# friend), all languages.
_FRAME_POS = {
    "lives": "VERB", "works": "VERB", "in": "ADP", "'s": "PART", "is": "AUX",
    "a": "DET", "friend": "NOUN", "of": "ADP", "for": "ADP",
    "wohnt": "VERB", "arbeitet": "VERB", "von": "ADP", "ist": "AUX",
    "eine": "DET", "ein": "DET", "Freundin": "NOUN", "Freund": "NOUN",
    "bei": "ADP",
    "vive": "VERB", "trabaja": "VERB", "en": "ADP", "de": "ADP", "es": "AUX",
    "amiga": "NOUN", "amigo": "NOUN", "para": "ADP",
    "sống": "VERB", "ở": "ADP", "làm": "VERB", "việc": "NOUN", "của": "ADP",
    "màu": "NOUN", "là": "AUX", "bạn": "NOUN", "cho": "ADP",
    "живёт": "VERB", "работает": "VERB", "в": "ADP", "У": "ADP",
    "подруга": "NOUN", "друг": "NOUN", "компании": "NOUN",
    "تعيش": "VERB", "يعيش": "VERB", "تعمل": "VERB", "يعمل": "VERB",
    "في": "ADP", "صديقة": "NOUN", "صديق": "NOUN",
    "में": "ADP", "रहती": "VERB", "रहता": "VERB", "है": "AUX", "काम": "NOUN",
    "करती": "VERB", "करता": "VERB", "की": "ADP", "का": "ADP", "दोस्त": "NOUN",
    "住在": "VERB", "在": "ADP", "工作": "VERB", "的": "PART", "是": "AUX",
    "朋友": "NOUN",
    ".": "PUNCT", "。": "PUNCT", "।": "PUNCT", "—": "PUNCT"}
_PUNCTUATION = ".。।—"
_TAGGING_KINDS = ("lives", "works", "employer", "colour", "friend")


def _known_words(text: str) -> list[str]:
  """`text` as words of `_FRAME_POS`, longest first (Chinese has no spaces)."""
  if not text:
    return []
  n = next(n for n in range(len(text), 0, -1) if text[:n] in _FRAME_POS)
  return [text[:n]] + _known_words(text[n:])


def _frame_words(text: str) -> list[str]:
  """A frame's words between slots: whitespace runs, punctuation split off."""
  words = []
  for run in text.split():
    body = run.lstrip(_PUNCTUATION)
    core = body.rstrip(_PUNCTUATION)
    words += [*run[:len(run) - len(body)], *_known_words(core),
              *body[len(core):]]
  return words


def tagged_words(lang: str, fact: Fact) -> list[tuple[str, str, str]]:
  """(word, NER tag in IOB2, UPOS tag) of each word of `fact`'s sentence."""
  slots, gender = _slots(lang, fact)
  template = _TEMPLATES[fact.kind][lang]
  if isinstance(template, dict):
    template = template[gender]
  words = []
  for text, slot, _, _ in string.Formatter().parse(template):
    words += [(w, "O", _FRAME_POS[w]) for w in _frame_words(text)]
    if slot:
      entity, pos = _SLOT_TAGS[slot]
      for i, word in enumerate(slots[slot].split()):
        ner = f"{'I' if i else 'B'}-{entity}" if entity else "O"
        words.append((word, ner, _SLOT_WORD_POS.get(word.lower(), pos)))
  return words


def _tagging_facts(world: World, rng: random.Random) -> list[Fact]:
  """One or two facts about one person, one sentence each."""
  p = rng.randrange(len(_PEOPLE))
  facts = []
  for kind in rng.sample(_TAGGING_KINDS, rng.choice((1, 1, 2))):
    facts.append({
        "lives": lambda: Fact("lives", p, city=world.home[p]),
        "works": lambda: Fact("works", p, city=world.work[p]),
        "employer": lambda: Fact("employer", p, org=world.employer[p]),
        "colour": lambda: Fact("colour", p, obj=rng.randrange(len(_OBJECTS)),
                               colour=rng.randrange(len(_COLOURS))),
        "friend": lambda: Fact("friend", p, q=(p + 1 + rng.randrange(
            len(_PEOPLE) - 1)) % len(_PEOPLE)),
    }[kind]())
  return facts


def write_tagging_sets(root: str, seed: int, num_train: int,
                       num_eval: int) -> dict[str, Any]:
  """NER (`panx/`) and POS (`udpos/`) sets in XTREME's layout; returns the
  sentence count per split and the word count per file."""
  world = World()
  counts: dict[str, Any] = {"sentences": {}, "words": {}}
  for split, size in {"train": num_train, "dev": num_eval,
                      "test": num_eval}.items():
    rng = random.Random(f"{seed}-{split}-tagging")
    sentences = [_tagging_facts(world, rng) for _ in range(size)]
    for lang in (("en",) if split == "train" else LANGUAGES):
      tagged = [[w for fact in facts for w in tagged_words(lang, fact)]
                for facts in sentences]
      for task, column in (("panx", 1), ("udpos", 2)):
        file_io.write_lines(
            os.path.join(root, task, f"{split}-{lang}.tsv"),
            (f"{w[0]}\t{w[column]}\n" if w else "\n"
             for words in tagged for w in words + [()]))
      counts["words"][f"{split}-{lang}"] = sum(map(len, tagged))
    counts["sentences"][split] = size
  return counts


def write_finetuning_sets(root: str, seed: int, num_train: int,
                          num_eval: int) -> dict[str, int]:
  """XNLI, PAWS-X (XTREME TSV layout) and SQuAD v1.1 JSON per language."""
  world = World()
  splits = {"train": num_train, "dev": num_eval, "test": num_eval}
  counts = {}
  for split, size in splits.items():
    rng = random.Random(f"{seed}-{split}")
    xnli = [_xnli_example(world, rng) for _ in range(size)]
    pawsx = [_pawsx_example(world, rng) for _ in range(size)]
    docs = [world.document(rng) for _ in range(size)]
    for lang in (("en",) if split == "train" else LANGUAGES):
      name = f"{split}-{lang}"
      file_io.write_lines(os.path.join(root, "xnli", name + ".tsv"), _tsv_rows(lang, xnli))
      file_io.write_lines(os.path.join(root, "pawsx", name + ".tsv"), _tsv_rows(lang, pawsx))
      squad = {"version": "1.1", "data": [
          _squad_article(lang, d, f"{name}-{i}") for i, d in enumerate(docs)]}
      os.makedirs(os.path.join(root, "squad"), exist_ok=True)
      file_io.write_json(os.path.join(root, "squad", name + ".json"), squad)
    counts[split] = size
  return counts


def write_demo_corpus(root: str, num_documents: int = 1000, seed: int = 0,
                      num_train: int = 2000, num_eval: int = 300) -> dict[str, Any]:
  """Writes the corpus and fine-tuning sets unless already complete there."""
  params = {"num_documents": num_documents, "seed": seed,
            "num_train": num_train, "num_eval": num_eval,
            "languages": list(LANGUAGES), "sets": list(SETS)}
  manifest_path = os.path.join(root, MANIFEST)
  if os.path.exists(manifest_path):
    with open(manifest_path, encoding="utf-8") as f:
      manifest = json.load(f)
    if manifest.get("params") == params:
      return manifest
  write_pretraining_text(root, num_documents, seed)
  manifest = {"params": params, "scripts": SCRIPTS,
              "finetuning_examples": write_finetuning_sets(root, seed, num_train,
                                                           num_eval),
              "tagging": write_tagging_sets(root, seed, num_train, num_eval)}
  file_io.write_json(manifest_path, manifest)
  return manifest


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  write_demo_corpus(f.output_dir, f.num_documents, f.seed)
  print(os.path.abspath(f.output_dir))


if __name__ == "__main__":
  flags.DEFINE_string("output_dir", None, "Root directory to write.")
  flags.DEFINE_integer("num_documents", 1000, "Documents per language.")
  flags.DEFINE_integer("seed", 0, "Generator seed.")
  flags.mark_flag_as_required("output_dir")
  app.run(main)
