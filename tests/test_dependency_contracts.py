"""Tripwires: the private behaviour of scikeras and scikit-learn the library relies on.

Where no public hook serves, the library uses a dependency's private name; the comment at
each use says why.  Each test here names one such private thing in its failure message
and checks what the library relies on: that it exists, its signature, and its observable
effect.  When a dependency upgrade changes one, the failure says which, before a user
meets a subtler symptom.  The versions verified are those pinned in ``pyproject.toml``.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

pytest.importorskip("scikeras")

from scikeras.utils.transformers import ClassifierLabelEncoder  # noqa: E402
from scikeras.wrappers import BaseWrapper, KerasClassifier  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402

from sk_audio_genre import SegmentClassifier  # noqa: E402
from sk_audio_genre.classifiers import CNNGenreClassifier, MLPGenreClassifier  # noqa: E402


def tracks(seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["blues", "jazz", "metal"]), 6)
    X = rng.normal(size=(len(y), 2, 12, 13)).astype(np.float32)
    return X + np.searchsorted(["blues", "jazz", "metal"], y)[:, None, None, None], y


def small(**params):
    return MLPGenreClassifier(**{"hidden_layer_sizes": (8,), "epochs": 2, "random_state": 0,
                                 **params})


class _KerasFitSpy:
    """Records the keyword arguments every ``keras.Model.fit`` call gets."""

    def __init__(self, monkeypatch):
        import keras

        self.calls = []
        original = keras.Model.fit

        def fit(model, *args, **kwargs):
            self.calls.append(kwargs)
            return original(model, *args, **kwargs)

        monkeypatch.setattr(keras.Model, "fit", fit)


# --------------------------------------------------------------------------- scikeras


def test_scikeras_initialize_callbacks_is_the_only_way_to_add_a_callback(monkeypatch):
    """``BaseWrapper._initialize_callbacks`` (private) fills ``_fit_callbacks``, which
    ``_fit_keras_model`` gives Keras as its callbacks, dropping any passed to ``fit``."""
    name = "scikeras BaseWrapper._initialize_callbacks"
    assert hasattr(BaseWrapper, "_initialize_callbacks"), f"{name} is gone"
    assert list(inspect.signature(BaseWrapper._initialize_callbacks).parameters) == ["self"], (
        f"{name} changed its signature")
    spy = _KerasFitSpy(monkeypatch)
    X, y = tracks()
    clf = small(early_stopping=True, validation_fraction=0.34).fit(X, y)
    assert isinstance(clf._fit_callbacks, list), f"{name} no longer sets _fit_callbacks"
    callbacks = spy.calls[-1]["callbacks"]
    assert [type(c).__name__ for c in callbacks] == ["HeldOutEarlyStopping"], (
        f"Keras no longer gets the callbacks {name} collects: {callbacks}")
    # ... and no public route would do: scikeras drops callbacks passed to fit
    KerasClassifier.fit(small(), X.reshape(len(X), -1)[:, :13], y,
                        callbacks=[object()])  # not a callback: would fail if it reached Keras
    assert spy.calls[-1]["callbacks"] == [], (
        "scikeras now passes fit's callbacks to Keras: _initialize_callbacks may be replaced "
        "by that public route")


def test_scikeras_routes_fit_keywords_to_keras(monkeypatch):
    """``KerasClassifier.fit(**kwargs)`` reaches ``keras.Model.fit`` (``batch_size``, the
    held-out tracks' ``validation_data``); scikeras warns that estimator parameters passed
    this way may go."""
    from sk_audio_genre._segments import split_tracks

    spy = _KerasFitSpy(monkeypatch)
    X, y = tracks()
    clf = small(batch_size="full", early_stopping=True, validation_fraction=0.34).fit(X, y)
    train, held_out = split_tracks(y, clf.validation_fraction, clf.random_state)
    kwargs = spy.calls[-1]
    assert kwargs["batch_size"] == len(train) * 2, (
        "scikeras no longer routes fit's batch_size to Keras")
    segments, labels = kwargs["validation_data"]
    assert segments.shape == (len(held_out) * 2, 12, 13), (
        "scikeras no longer routes fit's validation_data to Keras")


def test_scikeras_encodes_targets_as_the_validation_data_is_encoded():
    """The held-out tracks' labels are encoded before ``fit`` with scikeras' public
    ``ClassifierLabelEncoder``; scikeras must encode the training labels the same way
    (``target_encoder_``), for every loss."""
    X, y = tracks()
    for loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        clf = small(loss=loss).fit(X, y)
        assert type(clf.target_encoder_) is ClassifierLabelEncoder, (
            "scikeras' KerasClassifier.target_encoder is no longer a ClassifierLabelEncoder")
        np.testing.assert_array_equal(
            clf._encoded_targets(y, y), clf.target_encoder_.transform(y),
            err_msg=f"scikeras encodes targets for loss={loss!r} unlike ClassifierLabelEncoder")


def test_scikeras_builds_with_keras_build_fn():
    """scikeras calls a subclass's ``_keras_build_fn`` (its documented hook) with ``meta``
    and ``compile_kwargs`` when ``model`` is None."""
    parameters = inspect.signature(CNNGenreClassifier._keras_build_fn).parameters
    assert list(parameters) == ["self", "meta", "compile_kwargs"]
    clf = small()
    assert clf._check_model_param() == clf._keras_build_fn, (
        "scikeras BaseWrapper._check_model_param no longer picks _keras_build_fn")


def test_scikeras_keeps_routed_parameters_as_attributes():
    """``set_params`` restores ``vars(self)`` on refusal: scikeras keeps every parameter,
    routed ones included, as an instance attribute (``BaseWrapper._get_param_names`` reads
    ``__dict__``)."""
    clf = small()
    clf.set_params(optimizer__momentum=0.5)
    assert vars(clf)["optimizer__momentum"] == 0.5, (
        "scikeras BaseWrapper.set_params no longer stores routed parameters as attributes")
    assert clf.get_params()["optimizer__momentum"] == 0.5, (
        "scikeras BaseWrapper._get_param_names no longer reads the instance's __dict__")


def test_scikeras_0_13_reports_no_estimator_type_by_itself():
    """Why ``__sklearn_tags__`` sets the classifier tags: scikeras 0.13's KerasClassifier
    has ClassifierMixin right of BaseEstimator.  When this fails scikeras has fixed it and
    the override may be simplified (it stays correct)."""
    from sklearn.base import is_classifier

    assert not is_classifier(KerasClassifier())
    assert is_classifier(small())


# --------------------------------------------------------------------------- scikit-learn


def test_scikit_learn_parameter_validation_is_where_it_was():
    """``sklearn.utils._param_validation`` (private: no public API declares an
    estimator's constraints) and ``BaseEstimator._validate_params``, which ``fit``,
    ``set_params``, the model format and ``sklearn.base._fit_context`` call."""
    from sklearn.base import _fit_context
    from sklearn.utils._param_validation import (
        HasMethods,
        Interval,
        InvalidParameterError,
        StrOptions,
    )

    assert issubclass(InvalidParameterError, ValueError)
    assert callable(_fit_context) and HasMethods and Interval and StrOptions
    assert hasattr(BaseEstimator, "_validate_params"), (
        "scikit-learn BaseEstimator._validate_params is gone")
    with pytest.raises(InvalidParameterError, match="aggregate"):
        SegmentClassifier(aggregate="median").fit(np.zeros((4, 1, 1, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        small(hidden_layer_sizes=(0,))._validate_params()  # the library's own part


def test_scikit_learn_repr_reads_the_init_signature():
    """``BaseEstimator.__repr__`` (public) shows the parameters that differ from the
    defaults of ``__init__``'s signature, which ``__signature__`` completes."""
    assert repr(CNNGenreClassifier()) == "CNNGenreClassifier()", (
        "scikit-learn's repr no longer honours __init__.__signature__, or scikeras has a "
        "parameter the signature does not list")
    assert repr(CNNGenreClassifier(epochs=5, metrics=["accuracy"])) == (
        "CNNGenreClassifier(epochs=5, metrics=['accuracy'])")
