"""TF Hub-style SavedModels: the encoder and its text preprocessing."""

from rembert_tf.export.encoder import export_encoder
from rembert_tf.export.preprocessing import export_preprocessing
