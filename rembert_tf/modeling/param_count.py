"""Exact parameter counts of a config, without building the model.

The paper compares models by their fine-tuning parameters (appendix A.1): everything
up to the last Transformer layer. Its footnote 11 says what is discarded after
pre-training: the output embedding (with the MLM head) and the pooler. So:

  fine-tuning  = input embeddings + projection + the layers kept for fine-tuning
  pre-training = input embeddings + projection + all layers + MLM head
                 (+ output embedding [V, Eout] when decoupled)

Neither count includes the pooler, which MLM-only pre-training never uses;
`pooler_params` gives it. tests/test_param_count.py checks every function here
against models actually built, so these formulas cannot drift from the code.
"""

from typing import Optional

from rembert_tf.modeling.config import RemBertConfig


def embedding_params(c: RemBertConfig) -> int:
  """Word, position and type tables at width Ein, LayerNorm, Ein -> H map."""
  tables = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size)
  params = tables * c.input_embedding_size + 2 * c.input_embedding_size
  if c.input_embedding_size != c.hidden_size:
    params += c.input_embedding_size * c.hidden_size + c.hidden_size
  return params


def layer_params(c: RemBertConfig) -> int:
  """One post-LN Transformer layer: Q, K, V, O, the FFN and two LayerNorms."""
  h, f = c.hidden_size, c.intermediate_size
  attention = 4 * (h * h + h)
  feed_forward = (h * f + f) + (f * h + h)
  return attention + feed_forward + 2 * 2 * h


def pooler_params(c: RemBertConfig) -> int:
  return c.hidden_size * c.hidden_size + c.hidden_size


def mlm_head_params(c: RemBertConfig) -> int:
  """Dense H -> Eout, LayerNorm, output bias, and the decoupled output table."""
  e = c.output_embedding_size
  params = c.hidden_size * e + e + 2 * e + c.vocab_size
  if not c.tie_word_embeddings:
    params += c.vocab_size * e
  return params


def encoder_params(c: RemBertConfig) -> int:
  """Embeddings, projection and all `num_hidden_layers` layers (no pooler)."""
  return embedding_params(c) + c.num_hidden_layers * layer_params(c)


def finetuning_params(c: RemBertConfig,
                      num_layers_to_keep: Optional[int] = None) -> int:
  """The encoder that is fine-tuned: `c.for_finetuning(num_layers_to_keep)`."""
  return encoder_params(c.for_finetuning(num_layers_to_keep))


def pretraining_params(c: RemBertConfig) -> int:
  """Every layer plus the MLM head (and the decoupled output embedding)."""
  return encoder_params(c) + mlm_head_params(c)
