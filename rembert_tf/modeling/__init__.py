"""RemBERT model: config, rebalanced encoder, decoupled MLM head, losses, counts."""

from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.modeling.checkpoints import restore_encoder
from rembert_tf.modeling.config import ConfigError
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.embeddings import RemBertEmbeddings
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.modeling.losses import masked_lm_loss_and_accuracy
from rembert_tf.modeling.losses import masked_lm_sums
from rembert_tf.modeling.mlm_head import RemBertMaskedLM
from rembert_tf.modeling.pretrainer import RemBertPretrainer
