"""The fine-tuning model: a (possibly shortened) encoder plus HF's classifier head.

The head is `rembert_tf.modeling.task_models.RemBertClassifier` (pooled output,
dropout `classifier_dropout_prob`, dense), reused as is. Layer dropping (paper
section 6.2) builds it on the config with `num_hidden_layers = k`: the
fine-tuned model then *is* a k-layer RemBERT, its saved config says so, and
`restore_encoder` takes the first k layers of the deeper checkpoint.
"""

from typing import Optional

from absl import logging

from rembert_tf.modeling import checkpoints
from rembert_tf.modeling import param_count
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.task_models import RemBertClassifier
from rembert_tf.tasks.errors import TaskError


def finetuning_config(config: RemBertConfig,
                      num_layers_to_keep: Optional[int]) -> RemBertConfig:
  """`config` with only the bottom `num_layers_to_keep` layers."""
  if num_layers_to_keep is None:
    return config
  if not 1 <= num_layers_to_keep <= config.num_hidden_layers:
    raise TaskError(f"--num_layers_to_keep={num_layers_to_keep} must be in "
                    f"[1, {config.num_hidden_layers}] (the config's layers)")
  return config.replace(num_hidden_layers=num_layers_to_keep)


def build_classifier(config: RemBertConfig, num_labels: int,
                     seq_length: int) -> RemBertClassifier:
  """A built classifier (all variables exist, ready to restore)."""
  model = RemBertClassifier(config, num_labels, name="classifier_model")
  model(model.encoder.dummy_inputs(1, seq_length))
  return model


def log_parameter_counts(pretraining_config: RemBertConfig,
                         finetuning: RemBertConfig, num_labels: int) -> dict:
  """Logs and returns the paper's two counts (appendix A.1) and the heads."""
  counts = {
      "pretraining_params": param_count.pretraining_params(pretraining_config),
      "finetuning_params": param_count.finetuning_params(finetuning),
      "pooler_params": param_count.pooler_params(finetuning),
      "classifier_params": (finetuning.hidden_size + 1) * num_labels,
      "layers": finetuning.num_hidden_layers,
  }
  logging.info(
      "parameters: pre-training %s, fine-tuning %s (%d of %d layers; the "
      "output embedding and MLM head are discarded), plus pooler %s and "
      "classifier %s", f"{counts['pretraining_params']:,}",
      f"{counts['finetuning_params']:,}", finetuning.num_hidden_layers,
      pretraining_config.num_hidden_layers, f"{counts['pooler_params']:,}",
      f"{counts['classifier_params']:,}")
  return counts


def restore_pretrained_encoder(model: RemBertClassifier,
                               path: str) -> checkpoints.RestoreReport:
  """Loads the encoder from a pre-training or encoder-only checkpoint."""
  report = checkpoints.restore_encoder(model.encoder, path)
  logging.info(
      "encoder from %s: %d variables, %d of its %d layers%s; %d checkpoint "
      "variables left unused (output embedding, MLM head, dropped layers, "
      "optimizer state)",
      report.checkpoint, report.restored_variables, report.layers_restored,
      report.layers_in_checkpoint,
      ", fresh pooler" if report.fresh_pooler else "", report.left_in_checkpoint)
  return report
