"""The SentencePiece model of a RemBERT folder, checked against its config.

`load_tokenizer(path)` reads `sentencepiece.model` (the Hugging Face name) from
any folder `from_pretrained` loads: our own folders, Hugging Face folders and
the original TF1 checkpoint directory. A vocabulary kept elsewhere is passed as
`sp_model_file` (the demo's is out/demo/spm/demo_spm.model, beside its run
directory out/demo/pretraining), or copied into the folder under that name.

The model was trained with the config's special ids ([CLS] = bos_token_id,
[SEP] = eos_token_id, padding = pad_token_id); a vocabulary that disagrees
would feed it ids it never saw in those roles, so it is refused.
"""

import os
from typing import Optional

import sentencepiece as spm

from rembert_tf.convert import sources
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.modeling.config import RemBertConfig

SP_MODEL_FILE = "sentencepiece.model"


def special_ids(processor: spm.SentencePieceProcessor) -> dict[str, int]:
  """The [CLS], [SEP] and padding ids, keyed as `RemBertConfig.special_ids`."""
  ids, missing = sentencepiece_vocab.find_special_ids(processor)
  if missing:
    raise ValueError(f"the SentencePiece model lacks {missing}")
  return {name: ids[name] for name in ("cls", "sep", "pad")}


def check_vocabulary(processor: spm.SentencePieceProcessor, sp_model_path: str,
                     config: RemBertConfig,
                     config_path: str = "the config") -> dict[str, int]:
  """Returns the special ids; raises ValueError naming both and every
  difference if the vocabulary is not the config's (size, pad, [CLS], [SEP]).

  The one check of a vocabulary against a model config: the fine-tuning tasks
  and the exports call it too.
  """
  ids = special_ids(processor)
  checks = [("vocabulary size", processor.get_piece_size(), config.vocab_size),
            ("pad id", ids["pad"], config.pad_token_id),
            ("[CLS] id", ids["cls"], config.bos_token_id),
            ("[SEP] id", ids["sep"], config.eos_token_id)]
  problems = [f"{name} {have} (the config has {want})"
              for name, have, want in checks if have != want]
  if problems:
    raise ValueError(f"{sp_model_path} does not match {config_path}: " +
                     "; ".join(problems) + ". Pass the SentencePiece model "
                     "the encoder was pre-trained with.")
  return ids


def load_tokenizer(path: str, sp_model_file: Optional[str] = None
                   ) -> spm.SentencePieceProcessor:
  """The SentencePiece model of the folder `path`, checked against its config.

  Args:
    path: any folder `rembert_tf.from_pretrained` loads (its config.json is
      the one checked against).
    sp_model_file: the SentencePiece model, if not `path/sentencepiece.model`.

  Raises:
    ValueError: no such model, or not the config's vocabulary (both files
      and the ids named).
  """
  sp_model_file = sp_model_file or os.path.join(path, SP_MODEL_FILE)
  if not os.path.isfile(sp_model_file):
    raise ValueError(
        f"{sp_model_file} not found: put the model's SentencePiece vocabulary "
        f"there, or pass sp_model_file= (the demo's: "
        "out/demo/spm/demo_spm.model)")
  processor = spm.SentencePieceProcessor()
  try:
    processor.load(sp_model_file)
  except (OSError, RuntimeError) as e:
    raise ValueError(
        f"{sp_model_file}: not a SentencePiece model ({e})") from None
  config, _, config_path = sources.read_config(path, sources.detect(path))
  check_vocabulary(processor, sp_model_file, config, config_path)
  return processor
