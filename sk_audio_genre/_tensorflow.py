"""TensorFlow for the genre networks: imported quietly, configured once, predicting fast.

Every module that needs TensorFlow or Keras imports this one first.  It holds the
workarounds the library needs around TensorFlow, in one place:

* **A quiet import.**  TensorFlow 2.21 writes start-up notices to the process's standard
  error from C++ ("oneDNN custom operations are on", absl's logging notice) whatever
  ``TF_CPP_MIN_LOG_LEVEL`` says.  Unless the user asked for TensorFlow's messages
  (``TF_CPP_MIN_LOG_LEVEL=0``), the import runs with file descriptor 2 pointed at
  ``os.devnull``; Python exceptions still propagate.
* **Op determinism.**  scikeras' seeding context sets ``TF_DETERMINISTIC_OPS=1`` *before*
  asking TensorFlow whether op determinism was on.  TensorFlow reads that variable once,
  on the first query, so a first query inside the context reports "was on", and scikeras
  never turns determinism off again: every later unseeded fit then fails ("Random ops
  require a seed ...").  Querying once here fixes TensorFlow's state from the user's own
  environment.
* **Threads.**  In a joblib or Dask worker, TensorFlow's pools take the worker's share of
  the cores (:mod:`sk_audio_genre._threads`).
* **A prediction step traced once per model** (:func:`predict_in_batches`).
* **Training details**: sample weights that count like repeated samples
  (:func:`weighted_mean_loss`) and early stopping on held-out tracks
  (:class:`HeldOutEarlyStopping`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import weakref
from collections.abc import Iterator

from .reading import apply_thread_budget

#: Segments per prediction step.
PREDICT_BATCH_SIZE = 256


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Standard error (the file descriptor, as C++ writes it) discarded for the block."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
        yield  # the user asked to see TensorFlow's messages
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _quiet_stderr():
    import keras  # Keras imports TensorFlow: both under the quiet import
    import tensorflow as tf
    from tensorflow.python.framework import config as _tf_config

_tf_config.is_op_determinism_enabled()
apply_thread_budget(tf.config.threading)

_PREDICT_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _predict_step(model):
    """The model's inference graph, traced once for any number of segments.

    Keras' ``Model.predict`` traces again for every new batch shape (a call's
    last, partial batch), and TensorFlow's retracing detector counts the
    predict steps of all Keras models as one function.  This step has a
    batch-agnostic input signature and a per-model code name, so it is traced
    once per model and its tracing is counted for that model alone.
    """
    if model not in _PREDICT_STEPS:

        def predict_step(x):
            return model(x, training=False)

        predict_step.__code__ = predict_step.__code__.replace(
            co_name=f"predict_step_{id(model):x}"
        )
        signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)]
        _PREDICT_STEPS[model] = tf.function(predict_step, input_signature=signature)
    return _PREDICT_STEPS[model]


def predict_in_batches(model, inputs):
    """The model's outputs for ``inputs``, :data:`PREDICT_BATCH_SIZE` at a time (NumPy)."""
    import numpy as np

    step = _predict_step(model)
    return np.concatenate([
        step(inputs[start : start + PREDICT_BATCH_SIZE]).numpy()
        for start in range(0, len(inputs), PREDICT_BATCH_SIZE)
    ])  # fmt: skip


def weighted_mean_loss(loss):
    """The default loss with weights that count like repeated samples.

    Keras reduces a batch's losses with ``sum_over_batch_size``: ``sum(w * l) / n``, so a
    track of weight 2 is not the same as the track given twice.  ``mean_with_sample_weight``
    divides by ``sum(w)`` instead; without weights the two are the same.  A loss the user
    chose is left as it is.
    """
    if loss in ("sparse_categorical_crossentropy", keras.losses.sparse_categorical_crossentropy):
        return keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight")
    return loss


class HeldOutEarlyStopping(keras.callbacks.EarlyStopping):
    """Stop when the held-out tracks' loss stops improving; restore the best weights.

    Without held-out tracks (``partial_fit``) there is nothing to monitor, and it does
    nothing (Keras' own callback would warn at every epoch).
    """

    def __init__(self, *, patience: int) -> None:
        super().__init__(monitor="val_loss", patience=patience, restore_best_weights=True)

    def get_monitor_value(self, logs):
        return (logs or {}).get(self.monitor)
