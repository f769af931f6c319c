"""Pretraining and fine-tuning data for RemBERT.

The data-prep path (corpus reading, SentencePiece, packing, masking, TFRecord
writing) never imports TensorFlow, so worker processes stay small; only
`input_pipeline` (used by training) does. Entry points:

* `pipeline.run` / top-level `create_pretraining_data.py`: text -> MLM shards.
* `demo_corpus.write_demo_corpus`: the embedded multilingual corpus.
* `sentencepiece_vocab.train_model`: a SentencePiece model for a corpus.
* `metadata.read_metadata` / `metadata.validate`: the self-describing shards.
* `input_pipeline.make_pretraining_dataset`: alpha-sampled `tf.data` input.
"""
