"""`python -m rembert_tf.convert DIRECTION ...`: every weight conversion.

Directions:
  tf1        original TF1 checkpoint (gs://gresearch/rembert) -> pretrained dir
  hf-import  Hugging Face files (safetensors / pytorch_model.bin / tf_model.h5)
             -> pretrained dir
  hf-export  pretrained dir -> Hugging Face model.safetensors + config.json
  savedmodel pretrained dir -> TF Hub-style encoder SavedModel
  preprocessing  sentencepiece.model -> TF Hub-style preprocessing SavedModel
  inspect    lists every tensor of any of the above inputs (or of our own
             checkpoints) with its shape and the role the converter gives it,
             reading headers only

Errors print one line naming the file or tensor, exit with status 1 and leave
no output directory behind. Head tensors that cannot be placed fail tf1 and
hf-import, naming each, unless --allow_missing_head: the encoder is converted
and the head left out (listed in conversion_manifest.json).
"""

import argparse
import logging
import sys
from typing import Optional, Sequence

from rembert_tf.configs import load_config
from rembert_tf.convert import huggingface
from rembert_tf.convert import importer
from rembert_tf.convert import sources
from rembert_tf.convert.manifest import MANIFEST_FILE
from rembert_tf.convert.manifest import Manifest


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
  inspect = sub.add_parser("inspect", help="every tensor, shape and role")
  inspect.add_argument("--input", required=True,
                       help="a checkpoint, Hugging Face folder or our folder")
  inspect.add_argument("--config", help="config name or config.json (default: "
                       "the one beside the weights)")
  for p in (tf1, hf_in, inspect):
    p.add_argument("--name_map", help="JSON file of original name -> role (our "
                   "checkpoint key, as inspect prints it) for names the "
                   "built-in table does not know")
  for p in (tf1, hf_in):
    p.add_argument("--allow_missing_head", action="store_true",
                   help="convert the encoder even when head tensors cannot be "
                   "placed; they are left out and reported")
  for p in (tf1, hf_in, hf_out, saved, pre):
    p.add_argument("--input", required=True, help="what to convert")
    p.add_argument("--output", required=True, help="directory to write")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output directory")
  return parser


def run(args: argparse.Namespace) -> Optional[Manifest]:
  """Runs one direction; raises on bad input."""
  if args.direction in ("tf1", "hf-import", "inspect"):
    user_map = (importer.read_name_map(args.name_map) if args.name_map
                else None)
    config = load_config(args.config) if args.config else None
    if args.direction == "inspect":
      print("\n".join(sources.inspect(args.input, config, user_map)))
      return None
    return sources.convert(
        args.input, args.output,
        sources.TF1 if args.direction == "tf1" else sources.HUGGING_FACE,
        config=config, overwrite=args.overwrite,
        allow_missing_head=args.allow_missing_head, user_map=user_map)
  if args.direction == "hf-export":
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
  return None


def main(argv: Optional[Sequence[str]] = None) -> int:
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
  args = _parser().parse_args(argv)
  try:
    manifest = run(args)
  except (ValueError, OSError) as e:  # ConversionError, ConfigError, ...
    print(f"error: {e}", file=sys.stderr)
    return 1
  if args.direction == "inspect":
    return 0
  if manifest is not None and manifest.unplaced:
    print(f"warning: {len(manifest.unplaced)} tensor(s) not converted: "
          + ", ".join(f"{u['source']} {u['shape']}" for u in manifest.unplaced)
          + f" (reasons in {args.output}/{MANIFEST_FILE})", file=sys.stderr)
  print(f"wrote {args.output}", file=sys.stderr)
  return 0


if __name__ == "__main__":
  sys.exit(main())
