"""MLM pre-training on the shared, task-agnostic harness (`rembert_tf.training`)."""
