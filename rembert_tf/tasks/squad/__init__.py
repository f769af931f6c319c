"""Extractive QA in the SQuAD format (XQuAD, MLQA, TyDiQA-GoldP), zero-shot."""
