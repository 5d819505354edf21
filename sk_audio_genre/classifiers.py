"""The Keras genre classifiers: MLPGenreClassifier, CNNGenreClassifier, LSTMGenreClassifier.

Each is a scikeras ``KerasClassifier`` for one of the networks of
:mod:`sk_audio_genre.networks`, with the segment axis around it:

* **Segments.**  Input is ``(n_tracks, n_segments, n_frames, n_mfcc)``.  Training expands
  every present segment into one Keras sample carrying its track's label; prediction
  combines a track's segment probabilities.  Each track is one row for scikit-learn, so
  every CV split keeps a track's segments on one side.
* **scikit-learn tags.**  scikeras 0.13 puts ``ClassifierMixin`` to the right of
  ``BaseEstimator``, so on scikit-learn >= 1.7 its ``KerasClassifier`` reports no estimator
  type: ``is_classifier`` is False and cross-validation silently stops stratifying.
  :meth:`BaseGenreClassifier.__sklearn_tags__` declares the classifier tags.  (On
  scikit-learn 1.6 scikeras crashes; the package's pins exclude it.)
* **Fitted state as plain data** (:meth:`BaseGenreClassifier.fitted_state`,
  :meth:`~BaseGenreClassifier.network_weights`, :meth:`~BaseGenreClassifier.restore`):
  what the no-pickle model format saves and loads; the weights' shapes are checked against
  the network the parameters describe before it is built.

Where these classes rely on a dependency's private behaviour, a comment says why no public
hook serves and ``tests/test_dependency_contracts.py`` names the private thing and fails
when an upgrade changes it.

Importing this module imports TensorFlow; ``import sk_audio_genre`` does not until one of
these classes is first used.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

from ._tensorflow import (  # first: imports TensorFlow quietly
    HeldOutEarlyStopping,
    predict_in_batches,
    weighted_mean_loss,
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from scikeras.utils.transformers import ClassifierLabelEncoder  # noqa: E402
from scikeras.wrappers import KerasClassifier  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.utils import ClassifierTags, Tags  # noqa: E402

# scikit-learn has no public API for declaring an estimator's parameter constraints; its
# own estimators and most third-party ones use these (tests/test_dependency_contracts.py).
from sklearn.utils._param_validation import Interval, StrOptions  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

from ._limits import (  # noqa: E402
    BATCH_SIZE_REASON,
    EPOCHS_REASON,
    FILE_VALUES_REASON,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_FILE_VALUES,
    MAX_NETWORK_WEIGHTS,
    NETWORK_WEIGHTS_REASON,
    Bounded,
    check_segment_window,
    check_sizes,
)
from ._segments import (  # noqa: E402
    aggregate_segments,
    check_segment_shape,
    check_track_array,
    check_track_targets,
    expand_segments,
    predict_from_proba,
    present_segments,
    split_tracks,
    window_segments,
)
from .networks import CNN, LSTM, MLP, Network  # noqa: E402
from .segment_classifier import check_track_weights  # noqa: E402

__all__ = ["BaseGenreClassifier", "CNNGenreClassifier", "LSTMGenreClassifier",
           "MLPGenreClassifier"]


class BaseGenreClassifier(KerasClassifier):
    """Base class of the Keras genre classifiers; not for direct use.

    A subclass names its network (``_network``, a :class:`~sk_audio_genre.networks.Network`,
    which holds the architecture parameters' defaults and constraints) and declares those
    parameters in its ``__init__``, passing everything else on.
    """

    _network: Network
    _parameter_constraints: dict = {
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Bounded(Integral, 1, MAX_EPOCHS, closed="both", why=EPOCHS_REASON)],
        "batch_size": [Bounded(Integral, 1, MAX_BATCH_SIZE, closed="both",
                               why=BATCH_SIZE_REASON), StrOptions({"full"})],
        "aggregate": [StrOptions({"mean", "vote"})],
        "segment_window": [None, tuple, list],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Bounded(Integral, 1, MAX_EPOCHS, closed="both",
                                     why="a patience longer than the most epochs never stops")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        learning_rate: float = 1e-4,
        epochs: int = 30,
        batch_size: int | str = 32,
        aggregate: str = "mean",
        segment_window: tuple[int, int] | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        optimizer: Any = "adam",
        loss: Any = "sparse_categorical_crossentropy",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            epochs=epochs,
            batch_size=batch_size,
            random_state=random_state,
            verbose=verbose,
            optimizer=optimizer,
            loss=loss,
            **kwargs,
        )
        self.learning_rate = learning_rate
        self.aggregate = aggregate
        self.segment_window = segment_window
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Take the network's constraints, and show every parameter in ``__init__``'s
        signature."""
        super().__init_subclass__(**kwargs)
        if "_network" in vars(cls):
            cls._parameter_constraints = {**BaseGenreClassifier._parameter_constraints,
                                          **cls._network.constraints}
        _share_init_signature(cls, (BaseGenreClassifier, KerasClassifier))

    # ------------------------------------------------------- scikit-learn protocol

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=True, poor_score=True)
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.random_state is None
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return self.initialized_

    # scikeras' BaseWrapper.__repr__ lists every parameter, one per line; scikit-learn's
    # shows those that differ from the defaults in __init__'s signature (made complete by
    # _share_init_signature).
    __repr__ = BaseEstimator.__repr__

    # ------------------------------------------------------------------ parameters

    def _validate_params(self) -> None:
        """scikit-learn's parameter constraints, then the layer sizes and ``segment_window``
        against their bounds (:mod:`sk_audio_genre._limits`).

        Overrides scikit-learn's private ``BaseEstimator._validate_params`` (there is no
        public hook for extra checks): ``fit``, ``set_params`` and loading a saved model
        all call it by that name.
        """
        super()._validate_params()
        for name, (fewest, most) in self._network.layer_counts.items():
            check_sizes(name, getattr(self, name), min_count=fewest, max_count=most)
        check_segment_window(self.segment_window)

    def set_params(self, **params: Any) -> BaseGenreClassifier:
        """Set parameters, validated as ``fit`` validates them.

        A fitted classifier also checks that its network, refitted on the same input and
        classes, stays within the weights bound.  On refusal nothing changes.

        Parameters
        ----------
        **params : dict
            Parameters, routed ones (``optimizer__learning_rate``) included.

        Returns
        -------
        self : object
            The classifier.

        Raises
        ------
        ValueError
            Naming the parameter, the bound and why.
        """
        before = dict(vars(self))  # scikeras sets routed parameters as new attributes
        try:
            super().set_params(**params)
            self._validate_params()
            if self.initialized_:
                self._check_network_size(self._network_input_shape(self.segment_shape_),
                                         len(self.classes_))
        except Exception:
            vars(self).clear()
            vars(self).update(before)
            raise
        return self

    # --------------------------------------------------------------------- network

    def _architecture(self) -> dict[str, Any]:
        """The network's knobs as this classifier's parameters set them."""
        return {name: getattr(self, name) for name in self._network.defaults}

    def _network_weight_shapes(self, input_shape: Sequence[int], n_classes: int) -> list:
        """The shapes of the network's weights, without building it."""
        return self._network.weight_shapes(input_shape, n_classes, **self._architecture())

    def _check_network_size(self, input_shape: Sequence[int], n_classes: int) -> None:
        """Refuse a network of more than ``MAX_NETWORK_WEIGHTS`` weights before it is built."""
        shapes = self._network_weight_shapes(input_shape, n_classes)
        n_weights = sum(math.prod(shape) for shape in shapes)
        if n_weights > MAX_NETWORK_WEIGHTS:
            sizes = ", ".join(f"{name}={value!r}" for name, value in self._architecture().items()
                              if name in self._network.layer_counts or name == "dense_units")
            raise ValueError(
                f"{type(self).__name__}({sizes}) on inputs of shape {tuple(input_shape)} with "
                f"{n_classes} classes has {n_weights:,} weights, more than "
                f"{MAX_NETWORK_WEIGHTS:,} ({NETWORK_WEIGHTS_REASON}); use smaller layers."
            )

    def _build_network(self, input_shape: Sequence[int], n_classes: int) -> keras.Model:
        """The uncompiled network for one segment."""
        return self._network.build(input_shape, n_classes, **self._architecture())

    def _network_input_shape(self, segment_shape: Sequence[int]) -> tuple[int, ...]:
        """The network's input shape for segments of ``segment_shape``, windows applied."""
        frames, coefficients = segment_shape
        if self.segment_window is not None:
            frames = int(self.segment_window[0])
        return self._network.input_shape((frames, coefficients))

    def _keras_build_fn(self, meta: dict, compile_kwargs: dict) -> keras.Model:
        # scikeras' documented way for a subclass to build its model
        if meta["n_classes_"] < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes to train; "
                f"got {meta['n_classes_']} class."
            )
        self._check_network_size(meta["X_shape_"][1:], meta["n_classes_"])
        model = self._build_network(meta["X_shape_"][1:], meta["n_classes_"])
        model.compile(
            **{
                **compile_kwargs,
                "optimizer": self._optimizer(compile_kwargs["optimizer"]),
                "loss": weighted_mean_loss(compile_kwargs["loss"]),
                "metrics": compile_kwargs.get("metrics") or ["accuracy"],
            }
        )
        return model

    def _optimizer(self, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        """A fresh optimizer at ``learning_rate``, unless ``optimizer__learning_rate`` is set."""
        config = optimizer.get_config()
        if "optimizer__learning_rate" not in self.get_params():
            config["learning_rate"] = self.learning_rate
        return type(optimizer).from_config(config)

    # ------------------------------------------------------------------------- fit

    def fit(self, X, y, sample_weight=None) -> BaseGenreClassifier:
        """Train the network on every present segment of every track.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks as :class:`~sk_audio_genre.MFCCSegmenter` returns them.
            3-D input ``(n_samples, n_frames, n_mfcc)`` is taken as one segment
            per sample, 2-D ``(n_samples, n_features)`` as one segment of
            ``n_features`` frames with one coefficient.  All-NaN segments are
            missing and skipped.
        y : array-like of shape (n_tracks,)
            Genre of each track; every segment gets its track's label.
        sample_weight : array-like of shape (n_tracks,), default=None
            Weight of each track, given to each of its segments.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        self._validate_params()
        if self.validation_split:
            raise ValueError(
                "validation_split splits segments, so one track's segments would land "
                "on both sides of the split; use early_stopping=True with "
                "validation_fraction, which holds out whole tracks."
            )
        tracks, input_shape, y = self._check_fit_input(X, y, reset=True)
        if sample_weight is not None:
            sample_weight = check_track_weights(sample_weight, len(tracks))
        given = tracks
        tracks = self._windows(tracks)
        train = np.arange(len(tracks))
        validation = {}
        if self.early_stopping:
            train, held_out = split_tracks(y, self.validation_fraction, self.random_state)
            segments, labels, _ = expand_segments(tracks[held_out], y[held_out])
            validation["validation_data"] = (self._network.input_of(segments),
                                             self._encoded_targets(y[train], labels))
        segments, labels, weights = expand_segments(
            tracks[train], y[train], None if sample_weight is None else sample_weight[train]
        )
        # scikeras routes fit's keyword arguments to keras.Model.fit
        super().fit(
            self._network.input_of(segments),
            labels,
            sample_weight=weights,
            batch_size=self._fit_batch_size(len(segments)),
            **validation,
        )
        self._record_fitted_input(given, input_shape)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> BaseGenreClassifier:
        """Train for one epoch on ``X``, keeping the weights learned so far.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks, as in :meth:`fit`.
        y : array-like of shape (n_tracks,)
            Genre of each track.
        classes : array-like of shape (n_classes,), default=None
            All genres across calls; needed on the first call if ``y`` does
            not contain every genre.
        sample_weight : array-like of shape (n_tracks,), default=None
            Weight of each track.

        Returns
        -------
        self : object
            The updated classifier.
        """
        self._validate_params()
        tracks, input_shape, y = self._check_fit_input(X, y, reset=not self.initialized_)
        if self.initialized_:
            unseen = sorted(set(np.asarray(y).tolist()) - set(self.classes_.tolist()))
            if unseen:
                raise ValueError(
                    f"genre {unseen[0]!r} was not seen by the first partial_fit call, which "
                    f"fixed the genres to {self.classes_.tolist()}; pass every genre on the "
                    "first call with classes=[...], or fit again."
                )
        if sample_weight is not None:
            sample_weight = check_track_weights(sample_weight, len(tracks))
        segments, labels, weights = expand_segments(self._windows(tracks), y, sample_weight)
        super().partial_fit(
            self._network.input_of(segments),
            labels,
            classes=classes,
            sample_weight=weights,
            batch_size=self._fit_batch_size(len(segments)),
        )
        self._record_fitted_input(tracks, input_shape)
        return self

    def _check_fit_input(self, X, y, *, reset: bool) -> tuple[np.ndarray, tuple, np.ndarray]:
        tracks, input_shape = (
            check_track_array(X, estimator_name=type(self).__name__)
            if reset
            else self._check_tracks(X)
        )
        return tracks, input_shape, check_track_targets(tracks, y)

    def _windows(self, tracks: np.ndarray) -> np.ndarray:
        """``tracks`` re-cut into ``segment_window`` windows (unchanged when it is None)."""
        if self.segment_window is None:
            return tracks
        frames, hop = self.segment_window
        return window_segments(tracks, int(frames), int(hop))

    def _fit_batch_size(self, n_segments: int) -> int:
        return n_segments if self.batch_size == "full" else self.batch_size

    def _encoded_targets(self, train_labels: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """``labels`` encoded as scikeras encodes the training labels for Keras.

        ``KerasClassifier`` fits its target encoder (``target_encoder_``: a
        ``ClassifierLabelEncoder`` for this loss on the training labels) inside ``fit``;
        Keras' ``validation_data`` must be encoded the same way before ``fit`` is called.
        """
        return ClassifierLabelEncoder(loss=self.loss).fit(train_labels).transform(labels)

    def _initialize_callbacks(self) -> None:
        """scikeras' callbacks, and early stopping on the held-out tracks when asked for.

        Overrides scikeras' private ``BaseWrapper._initialize_callbacks``: scikeras gives
        Keras only the callbacks this method collects (it drops any ``callbacks`` passed
        to ``fit``), and the public ``callbacks`` parameter is the user's, so an estimator
        has no public way to add its own.
        """
        super()._initialize_callbacks()
        if self.early_stopping:
            self._fit_callbacks = [
                *self._fit_callbacks,
                HeldOutEarlyStopping(patience=self.n_iter_no_change),
            ]

    def _record_fitted_input(self, tracks: np.ndarray, input_shape: tuple[int, ...]) -> None:
        self.classes_ = np.asarray(self.classes_.tolist())
        self.n_features_in_ = input_shape[-1]
        self.n_segments_in_ = tracks.shape[1]
        self.segment_shape_ = tracks.shape[2:]
        self.n_iter_ = len(self.history_["loss"])

    # --------------------------------------------------------------------- predict

    def _check_tracks(self, X) -> tuple[np.ndarray, tuple[int, ...]]:
        """Validate ``X`` against the fitted segment shape."""
        check_is_fitted(self)
        tracks, input_shape = check_track_array(X, estimator_name=type(self).__name__)
        check_segment_shape(tracks, input_shape, self.segment_shape_,
                            n_features_in=self.segment_shape_[0],
                            estimator_name=type(self).__name__)
        return tracks, input_shape

    def predict_segment_proba(self, X) -> np.ndarray:
        """Class probabilities of every segment.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_tracks, n_segments, n_classes)
            Probabilities per segment, columns in the order of ``classes_``;
            NaN for missing segments.
        """
        tracks, _ = self._check_tracks(X)
        tracks = self._windows(tracks)
        present = present_segments(tracks)
        proba = np.full((*tracks.shape[:2], len(self.classes_)), np.nan, dtype=np.float32)
        if present.any():
            proba[present] = predict_in_batches(
                self.model_, self._network.input_of(tracks[present])
            )
        return proba

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of each track, combined from its segments.

        ``aggregate="mean"`` averages the segments' probabilities;
        ``aggregate="vote"`` gives the fraction of segments voting for each class.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_tracks, n_classes)
            Rows sum to 1; a track with no present segment gets a row of NaN.
        """
        return aggregate_segments(self.predict_segment_proba(X), self.aggregate)[0]

    def predict(self, X) -> np.ndarray:
        """Genre of each track.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks, as in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_tracks,)
            Labels as given to ``fit`` (strings stay strings).  Under
            ``aggregate="vote"`` ties go to the higher mean probability.

        Raises
        ------
        ValueError
            If a track has no present segment (use ``predict_proba`` to get
            NaN for it instead).
        """
        proba, mean_proba = aggregate_segments(self.predict_segment_proba(X), self.aggregate)
        return predict_from_proba(self.classes_, proba, mean_proba)

    def score(self, X, y, sample_weight=None) -> float:
        """Track accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks.
        y : array-like of shape (n_tracks,)
            True genres.
        sample_weight : array-like of shape (n_tracks,), default=None
            Track weights.

        Returns
        -------
        score : float
            Fraction of tracks whose genre is predicted correctly.
        """
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    # ----------------------------------------------------------- fitted state as data

    def fitted_state(self) -> dict[str, Any]:
        """What a saved model records besides the parameters and the weights (JSON values).

        The class labels are listed as they are; the model format refuses those it cannot
        keep.
        """
        return {
            "classes_": np.asarray(self.classes_).tolist(),
            "segment_shape_": [int(n) for n in self.segment_shape_],
            "n_segments_in_": int(self.n_segments_in_),
            "n_features_in_": int(self.n_features_in_),
            "n_iter_": int(self.n_iter_),
            "history_": {k: [float(v) if np.isfinite(v) else None for v in values]
                         for k, values in self.history_.items()},
        }

    def network_weights(self) -> list[np.ndarray]:
        """The network's weights in layer order (no optimizer state), as NumPy arrays."""
        return [np.asarray(w) for w in self.model_.get_weights()]

    def restore(self, state: dict[str, Any], weights: list[np.ndarray]) -> None:
        """Become the fitted classifier that :meth:`fitted_state` and
        :meth:`network_weights` described.

        The segments must lie within one file's bounded features, and the network the
        parameters describe for this input and these classes within the weights bound
        (:mod:`sk_audio_genre._limits`); the weights' shapes must be, in order, those of
        that network.  Only then is the network built (scikeras' ``initialize``, as in
        ``fit``, without training, on one zero segment per class: no more values than the
        weights bound) and the weights set.

        Raises
        ------
        ValueError
            If a bound is exceeded or the shapes disagree.
        """
        classes = np.asarray(state["classes_"])
        segment_shape = tuple(state["segment_shape_"])
        if math.prod(segment_shape) > MAX_FILE_VALUES:
            raise ValueError(
                f"segments of {segment_shape} hold more than {MAX_FILE_VALUES:,} values, more "
                f"than one file's features may ({FILE_VALUES_REASON})."
            )
        input_shape = self._network_input_shape(segment_shape)
        if math.prod(input_shape) * len(classes) > MAX_NETWORK_WEIGHTS:
            raise ValueError(
                f"restoring builds the network on one segment of {segment_shape} per class; "
                f"{len(classes)} classes make that more than {MAX_NETWORK_WEIGHTS:,} values, "
                "more than the largest network's weights."
            )
        self._check_network_size(input_shape, len(classes))
        expected = [tuple(s) for s in self._network_weight_shapes(input_shape, len(classes))]
        found = [tuple(w.shape) for w in weights]
        if found != expected:
            raise ValueError(
                f"the saved weights have shapes {found}, but a {type(self).__name__} with "
                f"these parameters on {segment_shape} segments and {len(classes)} classes "
                f"has {expected}."
            )
        dummy = np.zeros((len(classes), *input_shape), dtype=np.float32)
        self.initialize(dummy, classes)  # builds and compiles, as fit does; no training
        self.model_.set_weights(weights)
        self.classes_ = classes
        self.segment_shape_ = segment_shape
        self.n_segments_in_ = int(state["n_segments_in_"])
        self.n_features_in_ = int(state["n_features_in_"])
        self.n_iter_ = int(state["n_iter_"])
        self.history_ = {k: [np.nan if v is None else v for v in values]
                         for k, values in state["history_"].items()}


def _share_init_signature(cls: type, bases: Sequence[type]) -> None:
    """Give ``cls.__init__`` a signature listing, after its own parameters, the keyword
    parameters of ``bases``' ``__init__`` it passes on through ``**kwargs``.

    scikeras takes most parameters through ``**kwargs``.  ``__signature__`` is Python's
    documented way (:func:`inspect.signature`) to show the parameters a function accepts:
    ``help()`` and IDEs list them, and scikit-learn's ``repr`` compares the values with
    these defaults.
    """
    if "__init__" not in vars(cls):
        return
    self_param, *own = inspect.signature(cls.__init__).parameters.values()
    parameters = [p.replace(kind=p.KEYWORD_ONLY) for p in own if p.kind is not p.VAR_KEYWORD]
    names = {p.name for p in parameters}
    for base in bases:
        for p in list(inspect.signature(base.__init__).parameters.values())[1:]:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in names:
                parameters.append(p.replace(kind=p.KEYWORD_ONLY))
                names.add(p.name)
    var_keyword = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)
    cls.__init__.__signature__ = inspect.Signature([self_param, *parameters, var_keyword])


_SHARED_PARAMETERS = """\
learning_rate : float, default=1e-4
        Learning rate of the optimizer (the original course's Adam rate).  A routed
        ``optimizer__learning_rate`` takes precedence when set.
    epochs : int, default=30
        Passes over the training segments, at most 10,000.
    batch_size : int or "full", default=32
        Segments per gradient step, which selects the original course's optimisation
        mode: ``"full"`` is full-batch gradient descent (one step per epoch),
        an int (at most ``2**20``) is mini-batch gradient descent, ``1`` is
        stochastic gradient descent.
    aggregate : {"mean", "vote"}, default="mean"
        How a track's prediction is made from its segments: the mean of their
        probabilities, or a majority vote (``predict_proba`` then gives vote
        fractions).
    segment_window : (int, int) or None, default=None
        ``(frames, hop)``: before training and prediction, lay each track's
        segments end to end and re-cut them into windows of ``frames`` frames,
        one every ``hop`` frames; the network sees windows instead of the
        segmenter's segments.  ``(65, 65)`` splits 130-frame segments into
        halves (twice the training samples, half as long); ``(130, 65)`` gives
        overlapping windows.  Members of an ensemble that differ here see the
        music at different time scales.  None uses the segments as they are.
        Each frame may fall into at most 8 windows (``frames <= 8 * hop``): the
        windows are copies of the data.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the *tracks* (stratified, never
        segments of a training track) and stop when their loss has not
        improved for ``n_iter_no_change`` epochs, restoring the best weights.
    validation_fraction : float, default=0.1
        Fraction of tracks held out when ``early_stopping`` is True.
    n_iter_no_change : int, default=10
        Epochs without validation-loss improvement before stopping (at most
        10,000).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the early-stopping
        split; an int makes two fits give identical predictions.
    verbose : int, default=0
        Keras' progress output: 0 silent, 1 progress bar, 2 one line per epoch.
    optimizer : str, keras Optimizer class or instance, default="adam"
        Optimizer; routed ``optimizer__*`` parameters configure it.
    loss : str or keras Loss, default="sparse_categorical_crossentropy"
        Training loss.
    **kwargs
        Other scikeras parameters (``metrics``, ``callbacks``, ``class_weight``,
        ``warm_start``, ``shuffle``, ...) and routed parameters (``fit__*``,
        ``optimizer__*``, ``callbacks__*``).  Prediction runs through one traced
        step per network, not ``Model.predict``, so ``predict__*`` parameters do
        not apply.  scikeras' ``validation_split`` is refused: it would split
        segments, not tracks.
"""

_SHARED_ATTRIBUTES = """\
classes_ : ndarray of shape (n_classes,)
        Genres seen in ``fit``, in the order of ``predict_proba``'s columns.
    model_ : keras.Model
        The trained network.
    history_ : dict of str to list of float
        Per-epoch ``loss`` and ``accuracy`` on training segments, plus
        ``val_loss`` and ``val_accuracy`` with ``early_stopping``.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
        Features of ``X`` as ``fit`` saw them, counted along the last axis as
        scikit-learn and :class:`~sk_audio_genre.SegmentScaler` count them:
        ``n_features`` of 2-D input ``(n_samples, n_features)``, the coefficients
        per frame (``n_mfcc``) of 3-D and 4-D input.  Prediction takes any number
        of segments per track, of shape ``segment_shape_``.
    n_segments_in_ : int
        Segments per track in ``fit``; prediction accepts any number.
    segment_shape_ : tuple of int
        ``(n_frames, n_mfcc)`` of one segment.
"""


def _with_shared_docs(cls: type) -> type:
    cls.__doc__ = cls.__doc__.replace("{shared_parameters}", _SHARED_PARAMETERS.rstrip()).replace(
        "{shared_attributes}", _SHARED_ATTRIBUTES.rstrip()
    )
    return cls


@_with_shared_docs
class MLPGenreClassifier(BaseGenreClassifier):
    """The original course's multi-layer perceptron as a track-level genre classifier.

    Each MFCC segment is flattened (130 x 13 = 1690 inputs) and passed through
    ReLU layers of 512, 256 and 64 units to a softmax over the genres
    (1,014,218 parameters for 10 genres).  See :func:`~sk_audio_genre.networks.build_mlp`.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(512, 256, 64)
        Units of the hidden layers: up to 16 layers of 1 to 4,096 units.  The
        network has at most 50,000,000 weights for the input and classes it is
        fitted on (checked before it is built).
    dropout : float, default=0.0
        Dropout after each hidden layer (the course's network has none).
    {shared_parameters}

    Attributes
    ----------
    {shared_attributes}

    See Also
    --------
    CNNGenreClassifier, LSTMGenreClassifier, MFCCSegmenter

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import MLPGenreClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 2, 20, 13)).astype("float32")  # 8 tracks, 2 segments
    >>> X[4:] += 1.0
    >>> y = np.array(["blues"] * 4 + ["metal"] * 4)
    >>> clf = MLPGenreClassifier(hidden_layer_sizes=(16,), epochs=20,
    ...                          learning_rate=1e-2, random_state=0).fit(X, y)
    >>> clf.predict(X[[0, -1]])
    array(['blues', 'metal'], dtype='<U5')
    >>> clf.predict_proba(X[:1]).shape
    (1, 2)
    """

    _network = MLP

    def __init__(
        self,
        *,
        hidden_layer_sizes: Sequence[int] = MLP.defaults["hidden_layer_sizes"],
        dropout: float = MLP.defaults["dropout"],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout


@_with_shared_docs
class CNNGenreClassifier(BaseGenreClassifier):
    """The original course's convolutional network as a track-level genre classifier.

    Three convolutions (32 3x3, 64 3x3, 128 2x2 filters, the first two each
    followed by 3x3 max pooling with stride 2), a 64-unit ReLU layer and
    dropout 0.1 before the softmax (298,186 parameters for 10 genres on
    130 x 13 segments).  See :func:`~sk_audio_genre.networks.build_cnn`.

    Parameters
    ----------
    filters : tuple of int, default=(32, 64, 128)
        Filters of the three convolutions, 1 to 4,096 each.
    dense_units : int, default=64
        Units of the dense layer after the convolutions, 1 to 4,096.  The network
        has at most 50,000,000 weights for the input and classes it is fitted on
        (checked before it is built).
    dropout : float, default=0.1
        Dropout before the output layer.
    batch_norm : bool, default=False
        Batch normalisation after each convolution (not in the course's network).
    conv_padding : {"valid", "same"}, default="valid"
        ``"valid"`` is the course's and needs segments of at least 11 frames x
        11 coefficients; ``"same"`` accepts any segment size.
    {shared_parameters}

    Attributes
    ----------
    {shared_attributes}

    See Also
    --------
    MLPGenreClassifier, LSTMGenreClassifier, SegmentScaler

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import CNNGenreClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(6, 2, 20, 13)).astype("float32")
    >>> y = np.array(["jazz", "pop"] * 3)
    >>> clf = CNNGenreClassifier(epochs=1, random_state=0).fit(X, y)
    >>> clf.predict_segment_proba(X).shape   # tracks, segments, genres
    (6, 2, 2)
    """

    _network = CNN

    def __init__(
        self,
        *,
        filters: Sequence[int] = CNN.defaults["filters"],
        dense_units: int = CNN.defaults["dense_units"],
        dropout: float = CNN.defaults["dropout"],
        batch_norm: bool = CNN.defaults["batch_norm"],
        conv_padding: str = CNN.defaults["conv_padding"],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = filters
        self.dense_units = dense_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.conv_padding = conv_padding


@_with_shared_docs
class LSTMGenreClassifier(BaseGenreClassifier):
    """The original course's recurrent network as a track-level genre classifier.

    Two stacked 64-unit LSTMs read a segment frame by frame (each frame's
    MFCC vector is one time step), then a 64-unit ReLU layer and dropout 0.3
    before the softmax (57,802 parameters for 10 genres on 13 MFCCs).  See
    :func:`~sk_audio_genre.networks.build_lstm`.

    Parameters
    ----------
    lstm_units : tuple of int, default=(64, 64)
        Units of the stacked LSTM layers: 1 to 16 layers of 1 to 4,096 units.
    dense_units : int, default=64
        Units of the dense layer after the LSTMs, 1 to 4,096.  The network has at
        most 50,000,000 weights for the input and classes it is fitted on (checked
        before it is built).
    dropout : float, default=0.3
        Dropout before the output layer.
    {shared_parameters}

    Attributes
    ----------
    {shared_attributes}

    See Also
    --------
    MLPGenreClassifier, CNNGenreClassifier

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import LSTMGenreClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(6, 2, 20, 13)).astype("float32")
    >>> y = np.array(["jazz", "pop"] * 3)
    >>> clf = LSTMGenreClassifier(epochs=1, random_state=0).fit(X, y)
    >>> clf.history_["loss"]  # doctest: +SKIP
    [0.69...]
    >>> clf.classes_
    array(['jazz', 'pop'], dtype='<U4')
    """

    _network = LSTM

    def __init__(
        self,
        *,
        lstm_units: Sequence[int] = LSTM.defaults["lstm_units"],
        dense_units: int = LSTM.defaults["dense_units"],
        dropout: float = LSTM.defaults["dropout"],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lstm_units = lstm_units
        self.dense_units = dense_units
        self.dropout = dropout
