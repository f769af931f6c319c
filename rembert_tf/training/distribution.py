"""Choosing the distribution strategy: TPU, local devices, multi-worker or one."""

import json
import os
import socket
from typing import Optional
from urllib import parse

from absl import logging
import tensorflow as tf
from official.common import distribute_utils
from tensorflow.python.client import device_lib  # pylint: disable=g-direct-tensorflow-import
from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-direct-tensorflow-import

STRATEGIES = ("auto", "tpu", "mirrored", "multi_worker_mirrored", "one_device")


class StrategyError(ValueError):
  """The requested strategy cannot be built; the message names the flag."""


def _num_workers() -> int:
  try:
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
  except json.JSONDecodeError as e:
    raise StrategyError(f"TF_CONFIG is not valid JSON ({e})") from None
  return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _check_tpu_reachable(tpu: str, timeout_seconds: float = 20.0) -> None:
  """Fails fast where TensorFlow would wait forever for an unreachable TPU."""
  if tpu == "local":
    return
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    master = resolver.master()
  except (ValueError, RuntimeError, OSError) as e:
    raise StrategyError(f"--tpu={tpu!r}: cannot resolve the TPU ({e})") from None
  address = parse.urlparse(master)
  try:
    socket.create_connection((address.hostname, address.port),
                             timeout=timeout_seconds).close()
  except (OSError, TypeError) as e:
    raise StrategyError(
        f"--tpu={tpu!r}: cannot reach the TPU at {master} ({e}); check the "
        "name or address, and that this VM may reach it") from None


def onednn_state() -> str:
  """Which CPU kernels TensorFlow runs, and who chose them, in one line.

  The package leaves the choice to TensorFlow (on for CPUs with AVX-512 VNNI,
  BF16 or AMX) or to the user's TF_ENABLE_ONEDNN_OPTS, and says which it is:
  on a 2-core Xeon with AMX (where TensorFlow turns it on), oneDNN made our
  base pre-training step 1.5x faster and bfloat16 matmuls 6x (README, "Speed
  on CPUs"); on a 2-core AVX2 Zen 1 (where it does not), 1.26x.
  """
  state = "on" if _pywrap_util_port.IsMklEnabled() else "off"
  chosen = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
  source = (f"TF_ENABLE_ONEDNN_OPTS={chosen}" if chosen is not None
            else "TensorFlow's default for this CPU; set TF_ENABLE_ONEDNN_OPTS"
            "=1 or 0 to choose")
  return f"oneDNN CPU kernels {state} ({source})"


def _local_gpus() -> list[tf.config.LogicalDevice]:
  """This host's GPUs; on a host without any, logs which CPU kernels run."""
  gpus = tf.config.list_logical_devices("GPU")
  if not gpus:
    logging.info("%s", onednn_state())
  return gpus


def make_strategy(distribution_strategy: str = "auto",
                  tpu: Optional[str] = None) -> tf.distribute.Strategy:
  """Builds the strategy `--distribution_strategy` / `--tpu` ask for.

  "auto": TPUStrategy when `tpu` is given; multi-worker mirrored when TF_CONFIG
  names several workers; mirrored over the local GPUs when there are several;
  otherwise the one local device (CPU or GPU).
  """
  if distribution_strategy not in STRATEGIES:
    raise StrategyError(
        f"--distribution_strategy={distribution_strategy!r} is unknown; use one "
        f"of {', '.join(STRATEGIES)}")
  name = distribution_strategy
  if name == "auto":
    if tpu:
      name = "tpu"
    elif _num_workers() > 1:
      name = "multi_worker_mirrored"
    elif len(tf.config.list_logical_devices("GPU")) > 1:
      name = "mirrored"
    else:
      name = "one_device"
  if name == "tpu":
    if not tpu:
      raise StrategyError("--distribution_strategy=tpu needs --tpu (a TPU name, "
                          "address, or 'local' on a TPU VM)")
    _check_tpu_reachable(tpu)
    try:
      return distribute_utils.get_distribution_strategy("tpu", tpu_address=tpu)
    except (ValueError, tf.errors.OpError) as e:
      raise StrategyError(f"--tpu={tpu!r}: cannot reach the TPU ({e})") from None
  if name == "one_device":
    gpus = _local_gpus()
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
  if name == "mirrored":
    gpus = _local_gpus()
    devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
  return tf.distribute.MultiWorkerMirroredStrategy()


def per_replica_batch_size(global_batch_size: int,
                           strategy: tf.distribute.Strategy,
                           flag: str = "train_batch_size") -> int:
  """The global batch split evenly over the replicas, or an error naming
  `flag`, the flag that set the batch."""
  replicas = strategy.num_replicas_in_sync
  if global_batch_size % replicas:
    raise StrategyError(
        f"--{flag}={global_batch_size} does not divide over "
        f"{replicas} replicas; use a multiple of {replicas}")
  return global_batch_size // replicas


def micro_batch_size(global_batch_size: int, strategy: tf.distribute.Strategy,
                     accumulation_steps: int) -> int:
  """Examples in one replica's forward and backward pass: the global batch
  over the replicas, then over `--gradient_accumulation_steps`."""
  per_replica = per_replica_batch_size(global_batch_size, strategy)
  if per_replica % accumulation_steps:
    multiple = strategy.num_replicas_in_sync * accumulation_steps
    raise StrategyError(
        f"--gradient_accumulation_steps={accumulation_steps} does not divide "
        f"the {per_replica} examples per replica of --train_batch_size="
        f"{global_batch_size}; use a train_batch_size that is a multiple of "
        f"{multiple} (replicas x accumulation steps)")
  return per_replica // accumulation_steps


def device_memory(strategy: tf.distribute.Strategy
                  ) -> Optional[tuple[int, str]]:
  """Bytes one replica may use and what they are, where TensorFlow reports
  them: a GPU's memory limit, or the RAM the local CPU replicas share. None
  on TPUs."""
  device = tf.DeviceSpec.from_string(strategy.extended.worker_devices[0])
  if device.device_type == "GPU":
    for local in device_lib.list_local_devices():
      spec = tf.DeviceSpec.from_string(local.name)
      if (spec.device_type, spec.device_index) == ("GPU", device.device_index):
        return local.memory_limit, f"GPU:{device.device_index}'s memory"
  if device.device_type == "CPU":
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    replicas = len(strategy.extended.worker_devices)
    shared = f", shared by {replicas} replicas" if replicas > 1 else ""
    return ram // replicas, f"the CPU's RAM{shared}"
  return None


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the run's outputs (always, but on workers
  of a multi-worker cluster other than the chief, or worker 0 without one)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (
      resolver.task_type == "worker" and resolver.task_id == 0
      and "chief" not in resolver.cluster_spec().as_dict())
