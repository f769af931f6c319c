"""Progress lines for long runs: step, loss, accuracy, rate, throughput, ETA."""

import time

from absl import logging


class ProgressLogger:
  """Logs one line per host loop and returns the numbers for TensorBoard."""

  def __init__(self, num_train_steps: int, global_batch_size: int,
               accuracy_name: str = "mlm_accuracy"):
    self._total = num_train_steps
    self._accuracy_name = accuracy_name
    self._batch = global_batch_size
    self._start_step = 0
    self._start_time = 0.0
    self._last_step = 0
    self._last_time = 0.0

  def start(self, step: int) -> None:
    self._start_step = self._last_step = step
    self._start_time = self._last_time = time.monotonic()

  def exclude_pause(self) -> None:
    """Keeps time spent since the last log (saving, evaluating) out of the rate."""
    self._last_time = time.monotonic()

  def log(self, step: int, loss: float, accuracy: float,
          learning_rate: float) -> dict[str, float]:
    now = time.monotonic()
    steps_per_second = (step - self._last_step) / max(now - self._last_time, 1e-9)
    overall = (step - self._start_step) / max(now - self._start_time, 1e-9)
    eta_seconds = (self._total - step) / max(overall, 1e-9)
    self._last_step, self._last_time = step, now
    logging.info(
        "step %d/%d  loss %.4f  %s %.4f  lr %.3e  %.1f examples/s  "
        "ETA %s", step, self._total, loss, self._accuracy_name, accuracy,
        learning_rate,
        steps_per_second * self._batch, _duration(eta_seconds))
    return {"loss": loss, self._accuracy_name: accuracy,
            "learning_rate": learning_rate,
            "examples_per_second": steps_per_second * self._batch}


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours}:{minutes:02d}:{seconds:02d}"
