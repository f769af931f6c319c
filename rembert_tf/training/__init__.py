"""Pre-training: optimizer, distribution, checkpoints, progress and the loop."""
