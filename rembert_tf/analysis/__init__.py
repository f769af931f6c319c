"""The paper's analyses of Eout (section 6) as tools that write a plot and JSON.

  nn_translation  Figure 2: nearest-neighbour translation accuracy per layer
                  (appendix A.9).
  layer_drop      Figure 1: zero-shot XNLI-style accuracy with the last layers
                  removed.
  eout_study      both, in miniature on the embedded corpus: coupled vs small
                  vs large Eout at equal fine-tuning size, one table.
"""
