"""Token tagging (NER on WikiANN / PAN-X, POS on Universal Dependencies),
zero-shot."""
