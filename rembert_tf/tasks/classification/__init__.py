"""Sentence-pair classification (XNLI, PAWS-X, a labelled TSV), zero-shot."""
