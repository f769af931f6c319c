"""The Keras model equals an independent NumPy implementation of RemBERT's math."""

import numpy as np
import pytest
from scipy import special

import rembert_tf
from rembert_tf.modeling.checkpoints import variable_keys
from tests.conftest import tiny_config


def _layer_norm(x, gamma, beta, eps):
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean) ** 2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _gelu(x):
  return 0.5 * x * (1.0 + special.erf(x / np.sqrt(2.0)))


def _softmax(x):
  x = x - x.max(-1, keepdims=True)
  e = np.exp(x)
  return e / e.sum(-1, keepdims=True)


def numpy_rembert(w, config, ids, mask, types, positions):
  """Forward pass written from the paper and the released model's description."""
  c, eps = config, config.layer_norm_eps
  seq = ids.shape[1]
  emb = (w["encoder/embeddings/word_embeddings/embeddings"][ids]
         + w["encoder/embeddings/position_embedding/embeddings"][:seq][None]
         + w["encoder/embeddings/type_embeddings/embeddings"][types])
  emb = _layer_norm(emb, w["encoder/embeddings/layer_norm/gamma"],
                    w["encoder/embeddings/layer_norm/beta"], eps)
  if c.input_embedding_size != c.hidden_size:
    emb = (emb @ w["encoder/embeddings/projection/kernel"]
           + w["encoder/embeddings/projection/bias"])
  heads, size = c.num_attention_heads, c.head_size
  bias = (1.0 - mask[:, None, None, :]) * -1e9  # Padding keys get no weight.
  h, layer_outputs = emb, []
  for i in range(c.num_hidden_layers):
    p = f"encoder/transformer_layers/{i}/"
    a = p + "_attention_layer/"
    def project(name, x):
      kernel = w[a + f"_{name}_dense/kernel"].reshape(c.hidden_size, heads * size)
      out = x @ kernel + w[a + f"_{name}_dense/bias"].reshape(-1)
      return out.reshape(x.shape[0], seq, heads, size).transpose(0, 2, 1, 3)
    q, k, v = project("query", h), project("key", h), project("value", h)
    probs = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + bias)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(h.shape[0], seq, -1)
    attn = (context @ w[a + "_output_dense/kernel"].reshape(-1, c.hidden_size)
            + w[a + "_output_dense/bias"])
    h = _layer_norm(h + attn, w[p + "_attention_layer_norm/gamma"],
                    w[p + "_attention_layer_norm/beta"], eps)
    ffn = _gelu(h @ w[p + "_intermediate_dense/kernel"]
                + w[p + "_intermediate_dense/bias"])
    ffn = ffn @ w[p + "_output_dense/kernel"] + w[p + "_output_dense/bias"]
    h = _layer_norm(h + ffn, w[p + "_output_layer_norm/gamma"],
                    w[p + "_output_layer_norm/beta"], eps)
    layer_outputs.append(h)
  gathered = np.take_along_axis(h, positions[..., None], axis=1)
  t = _gelu(gathered @ w["masked_lm/dense/kernel"] + w["masked_lm/dense/bias"])
  t = _layer_norm(t, w["masked_lm/layer_norm/gamma"],
                  w["masked_lm/layer_norm/beta"], eps)
  table = (w["encoder/embeddings/word_embeddings/embeddings"]
           if c.tie_word_embeddings else w["masked_lm/output_embedding"])
  logits = t @ table.T + w["masked_lm/output_bias"]
  return emb, layer_outputs, logits


def _randomize(model, seed):
  """Weights far from init (LayerNorm and biases included) so errors show."""
  rng = np.random.default_rng(seed)
  for v in model.weights:
    scale = 0.3 if "gamma" not in v.name else 0.2
    value = rng.normal(0.0, scale, v.shape.as_list())
    if "gamma" in v.name:
      value += 1.0
    v.assign(value.astype(np.float32))


@pytest.mark.parametrize("changes", [
    {},  # Decoupled, Ein < H < Eout.
    {"tie_word_embeddings": True, "output_embedding_size": 8},  # Coupled.
    {"input_embedding_size": 16},  # Ein == H: no projection.
], ids=["decoupled", "coupled", "no_projection"])
@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
def test_keras_model_matches_numpy(changes, padded):
  config = tiny_config(**changes)
  model = rembert_tf.RemBertPretrainer(config)
  model(model.dummy_inputs())
  _randomize(model, seed=len(changes) + 7 * padded)
  rng = np.random.default_rng(0)
  batch, seq = 3, 9
  ids = rng.integers(3, config.vocab_size, (batch, seq)).astype(np.int32)
  types = (np.arange(seq)[None] >= 5).astype(np.int32).repeat(batch, 0)
  mask = np.ones((batch, seq), np.int32)
  if padded:
    mask[0, 6:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = config.pad_token_id
  positions = np.array([[1, 3, 0], [2, 8, 8], [0, 1, 3]], np.int32)
  outputs = model({"input_word_ids": ids, "input_mask": mask,
                   "input_type_ids": types, "masked_lm_positions": positions})

  weights = {key.rsplit("/.ATTRIBUTES", 1)[0]: v.numpy()
             for v in model.weights
             for key in [variable_keys(**model.checkpoint_items)[v.ref()]]}
  emb, layers, logits = numpy_rembert(weights, config, ids, mask.astype(
      np.float64), types, positions)

  np.testing.assert_allclose(outputs["embedding_output"], emb, atol=1e-5)
  assert len(outputs["encoder_outputs"]) == config.num_hidden_layers
  for got, want in zip(outputs["encoder_outputs"], layers):
    np.testing.assert_allclose(got, want, atol=1e-5)
  np.testing.assert_allclose(outputs["sequence_output"], layers[-1], atol=1e-5)
  assert outputs["mlm_logits"].shape == (batch, 3, config.vocab_size)
  np.testing.assert_allclose(outputs["mlm_logits"], logits, atol=1e-5)
  assert np.abs(logits).max() > 1.0  # The comparison is not of near-zeros.


def test_pooler_is_dense_tanh_of_first_token():
  config = tiny_config()
  encoder = rembert_tf.RemBertEncoder(config)
  inputs = encoder.dummy_inputs(batch_size=2, seq_length=5)
  outputs = encoder(inputs)
  first = outputs["sequence_output"].numpy()[:, 0]
  kernel, bias = (v.numpy() for v in encoder.pooler.weights)
  np.testing.assert_allclose(outputs["pooled_output"],
                             np.tanh(first @ kernel + bias), atol=1e-6)
