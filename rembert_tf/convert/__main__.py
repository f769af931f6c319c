"""`python -m rembert_tf.convert DIRECTION ...`: every weight conversion.

Directions:
  tf1        original TF1 checkpoint (gs://gresearch/rembert) -> pretrained dir
  hf-import  Hugging Face files (safetensors / pytorch_model.bin / tf_model.h5)
             -> pretrained dir
  hf-export  pretrained dir -> Hugging Face model.safetensors + config.json
  savedmodel pretrained dir -> TF Hub-style encoder SavedModel
  preprocessing  sentencepiece.model -> TF Hub-style preprocessing SavedModel

Errors print one line naming the file or tensor, exit with status 1 and leave
no output directory behind.
"""

import argparse
import logging
import sys
from typing import Optional, Sequence

from rembert_tf.configs import load_config
from rembert_tf.convert import huggingface
from rembert_tf.convert import importer
from rembert_tf.convert import tf1_checkpoint


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="python -m rembert_tf.convert",
      description=__doc__.split("\n\n")[0])
  sub = parser.add_subparsers(dest="direction", required=True)
  tf1 = sub.add_parser("tf1", help="original TF1 checkpoint -> pretrained dir")
  tf1.add_argument("--config", default="rembert",
                   help="config name (rembert_tf/configs) or config.json path")
  hf_in = sub.add_parser("hf-import", help="Hugging Face files -> pretrained dir")
  hf_in.add_argument("--config", help="config.json (default: the one beside "
                     "the weights)")
  hf_out = sub.add_parser("hf-export", help="pretrained dir -> Hugging Face")
  saved = sub.add_parser("savedmodel", help="pretrained dir -> TF Hub encoder")
  pre = sub.add_parser("preprocessing",
                       help="sentencepiece.model -> TF Hub preprocessing")
  pre.add_argument("--seq_length", type=int, default=128)
  pre.add_argument("--config", help="check the special ids against this config")
  for p in (tf1, hf_in, hf_out, saved, pre):
    p.add_argument("--input", required=True, help="what to convert")
    p.add_argument("--output", required=True, help="directory to write")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output directory")
  return parser


def run(args: argparse.Namespace) -> None:
  """Runs one direction; raises on bad input."""
  if args.direction == "tf1":
    importer.import_model(tf1_checkpoint.TF1CheckpointSource(args.input),
                          load_config(args.config), args.output,
                          overwrite=args.overwrite)
  elif args.direction == "hf-import":
    source = huggingface.HuggingFaceSource(args.input)
    config, num_labels = huggingface.read_config(args.input)
    if args.config:
      config = load_config(args.config)
    importer.import_model(source, config, args.output, num_classes=num_labels,
                          overwrite=args.overwrite)
  elif args.direction == "hf-export":
    huggingface.export_model(args.input, args.output, overwrite=args.overwrite)
  elif args.direction == "savedmodel":
    from rembert_tf.export import encoder  # pylint: disable=g-import-not-at-top
    encoder.export_encoder(args.input, args.output, overwrite=args.overwrite)
  else:
    from rembert_tf.export import preprocessing  # pylint: disable=g-import-not-at-top
    preprocessing.export_preprocessing(
        args.input, args.output, seq_length=args.seq_length,
        config=load_config(args.config) if args.config else None,
        overwrite=args.overwrite)


def main(argv: Optional[Sequence[str]] = None) -> int:
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
  args = _parser().parse_args(argv)
  try:
    run(args)
  except (ValueError, OSError) as e:  # ConversionError, ConfigError, ...
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"wrote {args.output}", file=sys.stderr)
  return 0


if __name__ == "__main__":
  sys.exit(main())
