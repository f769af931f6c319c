"""How much memory one training step needs, from the config alone.

Logged before the first step, so that a run that cannot fit its device stops
there with the flag that would make it fit, instead of failing with an
out-of-memory error minutes later. Pure arithmetic, like `param_count` (which it
uses): no TensorFlow, nothing built.

What the step holds, in bytes, with P parameters (all float32 variables, under
every --dtype):
  persistent  weights 4P, Adam's two slots 8P, accumulators 4P when
              --gradient_accumulation_steps > 1;
  activations per example, the tensors the forward pass keeps for the
              backward one (below), times the micro-batch;
  transient   the gradients, 4P by the optimizer's update, and in pre-training
              the output embedding's gradient [V, Eout], created at the start
              of the backward pass while every activation is still held.
The peak is the persistent memory plus the largest of three moments: the MLM
head's backward (all activations, the output embedding's gradient), the top
layer's backward (the head's activations freed, the layer's backward
temporaries held; under --recompute_layers the layer's recomputed
activations), and the optimizer's update (all gradients).

Kept per example and layer, with S tokens, H, FFN width F and N heads, for a
post-LN layer (c = bytes of the compute dtype; LayerNorm and softmax in float32):
  S*H * (6c + 8)     query (scaled), key, value and context for their
                     gradients, each LayerNorm's float32 input and its output
                     cast for the next matmul;
  S*F * 4c           exact gelu's three saved intermediates and its output
                     (the gelu runs in the compute dtype, fused with the FFN's
                     first matmul);
  N*S^2 * (4 [+ c])  the float32 attention probabilities (and their cast for
                     the value matmul under mixed precision).
Under --recompute_layers a layer keeps only its float32 input, S*H*4, and one
layer's activations exist again while its backward runs. The MLM head keeps,
per masked position, its gathered input, dense/gelu/LayerNorm intermediates
and the [V] float32 softmax gradient; mixed precision adds the weights' cast
copies kept for the backward pass (one layer's at a time when recomputing).

Measured on CPU (bench/, `--suites=memory`) the plan's peak is within a few
percent of TensorFlow's allocator peak. A process needs about 10% more: the
allocator's pool keeps freed blocks it cannot reuse, and the runtime has its
own memory (graphs, kernels). `needed` adds that share (`HEADROOM`), and is
what a device must have.
"""

import dataclasses
from typing import Optional

from rembert_tf.modeling import param_count
from rembert_tf.modeling.config import RemBertConfig

_F32 = 4
COMPUTE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# The share of a device's memory the step's tensors may use: allocator
# fragmentation and the framework's own memory take about 10% (bench/).
HEADROOM = 0.9
GIB = 2 ** 30


@dataclasses.dataclass(frozen=True, kw_only=True)
class Workload:
  """One replica's training step.

  Attributes:
    config: the model trained (fine-tuning: its kept layers).
    seq_length: tokens per example.
    micro_batch_size: examples per forward and backward pass.
    mlm_predictions: masked positions per example scored against the
      vocabulary (pre-training: the MLM head and output embedding exist);
      0 for a fine-tuning head, whose pooler and head (< 0.3% of the
      parameters) are not counted.
    accumulation_steps: micro-batches per optimizer step.
    recompute_layers: per-layer activation recomputation.
    dtype: float32, bfloat16 or float16 (--dtype).
  """
  config: RemBertConfig
  seq_length: int
  micro_batch_size: int
  mlm_predictions: int = 0
  accumulation_steps: int = 1
  recompute_layers: bool = False
  dtype: str = "float32"


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
  """Bytes of one step; `peak` is what the device must hold."""
  workload: Workload
  parameters: int
  gradients: int
  accumulators: int
  optimizer_slots: int
  activations_per_example: int
  peak: int
  peak_at: str

  @property
  def activations(self) -> int:
    return self.activations_per_example * self.workload.micro_batch_size

  @property
  def needed(self) -> int:
    """The device memory the step needs: its tensors' peak and HEADROOM."""
    return int(self.peak / HEADROOM)

  def fits(self, device_bytes: int) -> bool:
    return self.needed <= device_bytes

  def describe(self) -> str:
    """The one log line: the inputs, each term and the peak."""
    w = self.workload
    return (
        f"{w.dtype}, {w.micro_batch_size} examples x "
        f"{w.accumulation_steps} micro-batch(es), seq {w.seq_length}"
        f"{f', {w.mlm_predictions} predictions' if w.mlm_predictions else ''}"
        f", recompute {'on' if w.recompute_layers else 'off'}: parameters "
        f"{size(self.parameters)}, gradients {size(self.gradients)}, "
        f"accumulators {size(self.accumulators)}, Adam slots "
        f"{size(self.optimizer_slots)}, activations "
        f"{self.activations_per_example / 2**20:.1f} MiB/example "
        f"({size(self.activations)}); peak {size(self.peak)} at the "
        f"{self.peak_at}, {size(self.needed)} needed with the runtime's "
        "share")


def size(value: int) -> str:
  """GiB, or MiB below one (a small test model's plan)."""
  if value < GIB:
    return f"{value / 2**20:.1f} MiB"
  return f"{value / GIB:.2f} GiB"


def _layer_bytes(w: Workload) -> tuple[int, int]:
  """(kept, backward temporaries) of one Transformer layer, per example."""
  c, s = w.config, w.seq_length
  compute = COMPUTE_BYTES[w.dtype]
  mixed = 0 if compute == _F32 else compute
  probs = c.num_attention_heads * s * s
  kept = (s * c.hidden_size * (6 * compute + 8)
          + s * c.intermediate_size * 4 * compute
          + probs * (_F32 + mixed))
  # The probabilities' gradient and the scores' (float32), the largest.
  return kept, probs * (2 * _F32 + mixed)


def _head_bytes(w: Workload) -> int:
  """The MLM head's kept tensors per example (0 for fine-tuning heads)."""
  c, p = w.config, w.mlm_predictions
  compute = COMPUTE_BYTES[w.dtype]
  return p * (c.hidden_size * compute
              + c.output_embedding_size * (4 * compute + _F32)
              + c.vocab_size * _F32)


def _embedding_bytes(w: Workload) -> int:
  """Embeddings' LayerNorm (float32) and the projection's output."""
  c, s = w.config, w.seq_length
  compute = COMPUTE_BYTES[w.dtype]
  mixed = 0 if compute == _F32 else compute
  return (s * c.input_embedding_size * (2 * _F32 + mixed)
          + s * c.hidden_size * compute)


def plan(w: Workload) -> MemoryPlan:
  """The step's memory for `w`."""
  c = w.config
  params = (param_count.pretraining_params(c) if w.mlm_predictions
            else param_count.encoder_params(c))
  compute = COMPUTE_BYTES[w.dtype]
  layer, layer_backward = _layer_bytes(w)
  head = _head_bytes(w)
  boundary = w.seq_length * c.hidden_size * _F32
  kept_layers = c.num_hidden_layers * (boundary if w.recompute_layers
                                       else layer)
  per_example = _embedding_bytes(w) + kept_layers + head
  b = w.micro_batch_size
  # Mixed precision keeps each weight's compute-dtype copy for the backward.
  casts = 0
  if compute != _F32:
    layer_weights = param_count.layer_params(c) * compute
    casts = (layer_weights if w.recompute_layers
             else c.num_hidden_layers * layer_weights)
    if w.mlm_predictions:
      casts += c.vocab_size * c.output_embedding_size * compute
  head_gradient = 0
  if w.mlm_predictions:
    head_gradient = (c.vocab_size * c.output_embedding_size
                     + c.vocab_size) * _F32
  top_layer = b * (per_example - head + layer_backward
                   + (layer if w.recompute_layers else 0))
  moments = {
      "MLM head's backward pass": head_gradient + casts + b * per_example,
      "top layer's backward pass": head_gradient + casts + top_layer,
      "optimizer update": params * _F32,
  }
  if not w.mlm_predictions:
    del moments["MLM head's backward pass"]
  peak_at = max(moments, key=moments.get)
  accumulators = params * _F32 if w.accumulation_steps > 1 else 0
  persistent = 3 * params * _F32 + accumulators
  return MemoryPlan(
      workload=w, parameters=params * _F32, gradients=params * _F32,
      accumulators=accumulators, optimizer_slots=2 * params * _F32,
      activations_per_example=per_example, peak=persistent + moments[peak_at],
      peak_at=peak_at)


def suggestion(w: Workload, device_bytes: int) -> Optional[str]:
  """Flag changes whose plan fits `device_bytes`: the fewest accumulation
  steps, and recomputation (with the fewest steps it needs); None if none.
  """
  per_replica = w.micro_batch_size * w.accumulation_steps
  choices = []
  for recompute in sorted({w.recompute_layers, True}):
    flag = ["--recompute_layers"] if recompute and not w.recompute_layers else []
    for n in range(w.accumulation_steps, per_replica + 1):
      changed = dataclasses.replace(
          w, recompute_layers=recompute, accumulation_steps=n,
          micro_batch_size=per_replica // n)
      if per_replica % n or (n, recompute) == (w.accumulation_steps,
                                               w.recompute_layers):
        continue
      if plan(changed).fits(device_bytes):
        steps = ([f"--gradient_accumulation_steps={n}"]
                 if n != w.accumulation_steps else [])
        choices.append(" ".join(flag + steps))
        break
  return ", or with ".join(choices) or None


def verdict(p: MemoryPlan, device_bytes: int, device: str) -> str:
  """'fits' or 'does not fit', against the device, with the fix."""
  budget = f"{size(device_bytes)} of {device}"
  if p.fits(device_bytes):
    return f"fits {budget}"
  fix = suggestion(p.workload, device_bytes)
  if fix:
    return f"does not fit {budget}; it fits with {fix}"
  w = p.workload
  floor = dataclasses.replace(
      w, recompute_layers=True, micro_batch_size=1,
      accumulation_steps=w.micro_batch_size * w.accumulation_steps)
  mixed = dataclasses.replace(floor, dtype="bfloat16")
  hint = ("; it fits with --dtype=bfloat16 (float16 on GPUs without "
          "bfloat16) and accumulation" if w.dtype == "float32"
          and plan(mixed).fits(device_bytes) else "")
  return (f"does not fit {budget}, not even with --recompute_layers and one "
          f"example per micro-batch ({size(plan(floor).needed)} needed)"
          f"{hint}")
