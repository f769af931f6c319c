"""The XTREME suite of the paper's Tables 7 and 16 in one command.

  python -m rembert_tf.xtreme --init_checkpoint=... --config_file=... \
      --sp_model_file=... --data_dir=download/ --output_dir=out/xtreme

`layout` says which files under --data_dir feed each task, `presets` holds
the protocols (Table 10's sweeps, Table 15's settings, the demo's), `suite`
runs them through the task library and selects each rate on English dev, and
`table` computes and formats the paper's row.
"""
