"""TensorFlow for the genre networks: imported once, configured once, predicting fast.

Every module that needs TensorFlow or Keras imports this one first.  It holds what the
library needs around TensorFlow, in one place, and changes nothing in the user's process
beyond importing TensorFlow (no environment variable, no file descriptor):

* **Op determinism.**  scikeras' seeding context sets ``TF_DETERMINISTIC_OPS=1`` *before*
  asking TensorFlow whether op determinism was on.  TensorFlow reads that variable once,
  on the first query, so a first query inside the context reports "was on", and scikeras
  never turns determinism off again: every later unseeded fit then fails ("Random ops
  require a seed ...").  :func:`_settle_op_determinism` has TensorFlow read it here, from
  the user's own environment, through a public function.
* **Threads.**  In a joblib or Dask worker, TensorFlow's pools take the worker's share of
  the cores (:func:`sk_audio_genre.reading.apply_thread_budget`).
* **A prediction step traced once per model** (:func:`predict_in_batches`).
* **Training details**: sample weights that count like repeated samples
  (:func:`weighted_mean_loss`) and early stopping on held-out tracks
  (:class:`HeldOutEarlyStopping`).

TensorFlow's own start-up notices (CPU instructions, oneDNN) are TensorFlow's to print:
set ``TF_CPP_MIN_LOG_LEVEL=3`` before importing to hide them.  The ``sk-audio-genre``
command hides them for its own process (:mod:`sk_audio_genre.cli`).
"""
from __future__ import annotations

import functools
import weakref

import keras  # Keras imports TensorFlow
import numpy as np
import tensorflow as tf

from .reading import apply_thread_budget

#: Segments per prediction step.
PREDICT_BATCH_SIZE = 256


def _settle_op_determinism() -> None:
    """Have TensorFlow read ``TF_DETERMINISTIC_OPS`` now, as the user's environment sets it.

    TensorFlow has no public query of op determinism; ``get_seed(None)`` is the public
    function that asks (it refuses an unseeded op when determinism is on, and that
    refusal is its answer here).  With a global seed already set it does not ask, and
    TensorFlow reads the variable at its first random op instead.
    """
    try:
        tf.compat.v1.get_seed(None)
    except RuntimeError:  # determinism is on (TF_DETERMINISTIC_OPS=1): now fixed as on
        pass


_settle_op_determinism()
apply_thread_budget(tf.config.threading)

_PREDICT_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _predict_step(model):
    """The model's inference graph, traced once for any number of segments.

    Keras' ``Model.predict`` traces again for every new batch shape (a call's
    last, partial batch).  This step has a batch-agnostic input signature, so it is
    traced once per model.  It is a :func:`functools.partial` (not a closure):
    TensorFlow's retracing detector counts the calls of every function that shares one
    code object as one function, and would count the steps of all models as one; a
    ``partial`` has no code object of its own, so each model's step is counted alone.
    """
    if model not in _PREDICT_STEPS:
        signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)]
        _PREDICT_STEPS[model] = tf.function(functools.partial(_infer, model),
                                            input_signature=signature)
    return _PREDICT_STEPS[model]


def _infer(model, x):
    return model(x, training=False)


def predict_in_batches(model, inputs):
    """The model's outputs for ``inputs``, :data:`PREDICT_BATCH_SIZE` at a time (NumPy)."""
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
