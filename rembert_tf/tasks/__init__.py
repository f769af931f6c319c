"""Fine-tuning tasks in the XTREME zero-shot setting: train on English,
evaluate on every language.

Shared by every task: the harness (`harness`: configs, layer dropping, trainer,
restore, results), TFRecord input (`inputs`), exact padded evaluation
(`evaluation`), the task losses (`losses`), the SavedModel writers (`export`)
and `TaskError`; the tasks whose data a `create_*_data.py` script prepares
also share that script's flags, the prepared directory and the run
(`prepared`). One package per task, each with the same module names for the
same jobs: `data` (reading the task's files), `features` (text -> model
inputs), `inputs` (TFRecords -> batches), `model` (head and loss),
`postprocess` (logits -> predictions and their files), `metrics`, `export`
(SavedModels) and `run` (flags in, results out):
  classification/  sentence pairs: XNLI, PAWS-X, any labelled TSV
  tagging/         per-word tags: NER (WikiANN / PAN-X), POS (UD), any TSV
  squad/           extractive QA in the SQuAD format: XQuAD, MLQA, TyDiQA-GoldP
"""
