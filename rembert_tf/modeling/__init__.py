"""RemBERT model: config, rebalanced encoder, decoupled MLM head, losses, counts.

The public classes are exported from `rembert_tf` itself; import the modules here
(`rembert_tf.modeling.encoder`, ...) for everything else.
"""
