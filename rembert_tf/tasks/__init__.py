"""Sentence-pair classification (XNLI, PAWS-X) in the XTREME zero-shot setting.

Train on English, evaluate on every language: data prep to TFRecords
(`classification_data`), the model (`classifier_model`), the training loop
(`classifier_training`), exact evaluation (`evaluation`), prediction files
(`predictions`) and the raw-text SavedModel (`export`).
"""
