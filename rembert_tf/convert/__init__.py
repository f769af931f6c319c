"""Converting RemBERT weights: the original TF1 checkpoint and Hugging Face files.

`python -m rembert_tf.convert --help` lists the directions. The name table
(`name_map`) is the single source of every mapping.
"""

from rembert_tf.convert.errors import ConversionError
