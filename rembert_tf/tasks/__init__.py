"""Fine-tuning tasks in the XTREME zero-shot setting: train on English,
evaluate on every language.

Shared: the harness (`finetuning`), TFRecord input (`task_input`), exact
evaluation (`evaluation`). Sentence-pair classification (XNLI, PAWS-X): data
prep (`classification_data`), model (`classifier_model`), training
(`classifier_training`), prediction files (`predictions`) and the raw-text
SavedModel (`export`). Extractive QA in the SQuAD format (XQuAD, MLQA,
TyDiQA-GoldP): JSON reading (`squad_data`), windows (`squad_features`), input
(`squad_input`), model (`squad_model`), training (`squad_training`), answers
(`squad_postprocess`), EM/F1 (`squad_metrics`) and the SavedModel
(`squad_export`).
"""
