"""MusicnnEmbedder: audio file paths in, pretrained musicnn embeddings out."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._decode import prepare_decoding
from ._files import AudioFilesTransformer, FileReport, validate_paths
from ._limits import (
    FILE_VALUES_REASON,
    MAX_FILE_VALUES,
    MAX_OFFSET_SECONDS,
    MAX_WINDOWS,
    MAX_WINDOW_SECONDS,
    MIN_PATCH_HOP_SECONDS,
    OFFSET_REASON,
    PATCH_HOP_REASON,
    WINDOWS_REASON,
    WINDOW_REASON,
    Bounded,
)
from ._musicnn_network import LAYER_SIZES, MSD_TAGS, N_MELS, PATCH_FRAMES, MusicnnNetwork
from ._patches import (
    MIN_PATCH_SECONDS,
    POOLINGS,
    SR,
    PatchSpec,
    hop_frames_for,
    n_patches_for,
)

__all__ = ["MSD_TAGS", "MusicnnEmbedder"]


class MusicnnEmbedder(AudioFilesTransformer):
    """Embed audio files with musicnn, a network pretrained on the Million Song Dataset.

    Each file is resampled to 16 kHz, turned into musicnn's log-mel spectrogram and cut
    into 3 s patches (187 frames); every patch goes through musicnn's MSD model (Pons &
    Serra 2019, trained to predict 50 tags of about 200,000 songs), and the chosen layer's
    outputs are pooled over the patches.  With a few hundred labelled tracks, a linear
    model on these embeddings beats networks trained from scratch on MFCCs.

    The transformer is stateless (``fit`` only checks the parameters) and needs no
    download: the converted weights ship inside the package with musicnn's licence.

    Parameters
    ----------
    layer : {"penultimate", "taggram", "mean_pool", "max_pool"}, default="penultimate"
        Which output: the 200-unit penultimate layer (after its batch normalisation),
        the 50 MSD tag probabilities (:data:`MSD_TAGS`), or the back-end's mean or max
        over time of the 753 front- and mid-end features.
    pooling : {"mean", "mean+std", "max", "none"}, default="mean"
        How a file's patches are combined: their mean, their mean then their standard
        deviation, their maximum, or ``"none"``: every patch kept, as a track array
        ``(n_files, n_patches, 1, size)`` that this library's genre classifiers and
        :class:`~sk_audio_genre.SegmentClassifier` take patch by patch.
    offset : float, "center" or "all", default=0.0
        Where the analysed window starts, in seconds (at most a week, 604,800 s);
        ``"center"`` centres a window of ``duration`` seconds in the file; ``"all"`` is
        whole-song mode: the file is cut into consecutive windows of ``duration`` seconds
        (or, for a file of more than ``max_windows`` windows, ``max_windows`` evenly
        spaced ones), and the patches of every window are pooled together.  Both need
        ``duration``.
    max_windows : int, default=20
        With ``offset="all"``, the most windows analysed per file, 1 to 100: time grows
        linearly with them, memory does not (one window is decoded at a time).
    duration : float or None, default=None
        Seconds analysed from ``offset``, from one patch (2.976 s) to 600 s; None
        analyses to the end of the file (a long file in windows of 200 patches, so that
        memory stays that of ten minutes of audio).  A patch starts every 2.992 s, so ``29.92``
        holds ten.  The window's patches hold at most ``2**22`` log-mel values (233 patches).
    patch_hop : float or None, default=None
        Seconds between patch starts, 0.5 to 600 (shorter hops repeat the 3 s patches
        while time grows as 1 / hop); None gives musicnn's non-overlapping patches
        (every 187 frames).  Converted to ``round(62.5 * patch_hop)`` frames.
    on_error : {"raise", "nan"}, default="raise"
        What to do with files that give no embedding (missing, empty, not audio,
        corrupt, or shorter than one patch).  ``"raise"`` raises one ``ValueError``
        listing every bad file; ``"nan"`` gives them an all-NaN row and warns once.
    n_jobs : int, default=None
        Files processed in parallel with joblib; ``None`` means 1 unless in a
        ``joblib.parallel_config`` context, ``-1`` means all processors.
    verbose : int, default=0
        Progress messages from joblib when greater than 0.

    Attributes
    ----------
    n_features_out_ : int
        Values per file (pooled) or per patch (``pooling="none"``).

    See Also
    --------
    MFCCSegmenter : The seed's per-segment MFCCs, for networks trained from scratch.
    SegmentClassifier : Trains any scikit-learn classifier on every patch.

    Notes
    -----
    The input follows musicnn 0.1.0's ``extractor.batch_data``: ``librosa.load`` at
    16 kHz (same resampler), ``librosa.feature.melspectrogram(n_fft=512,
    hop_length=256, n_mels=96)``, float16 rounding, ``log10(10000 * S + 1)``, and
    patches of 187 frames from the start of the analysed window.  One intended
    difference: the logarithm is taken in float32 (musicnn's float16 product overflows
    to infinity on loud bins).  The network is musicnn's, run as matrix products in
    NumPy (no TensorFlow); it matches a ``tf.nn`` implementation read from the
    checkpoint within 1e-4 (``tests/test_musicnn_network.py``).

    Files are checked from their headers first, so bad files are reported together
    before any audio is decoded; :meth:`transform_with_report` also returns what became
    of every file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> from sk_audio_genre import MusicnnEmbedder
    >>> sr = 16000
    >>> t = np.arange(7 * sr) / sr
    >>> noise = 0.1 * np.random.default_rng(0).standard_normal(t.size)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "noise.wav")
    ...     sf.write(path, noise, sr)
    ...     X = MusicnnEmbedder().fit_transform([path])        # 2 patches, averaged
    ...     P = MusicnnEmbedder(pooling="none").fit_transform([path])
    >>> X.shape, P.shape
    ((1, 200), (1, 2, 1, 200))
    >>> bool(np.allclose(X[0], P[0, :, 0].mean(axis=0), atol=1e-6))
    True
    """

    _parameter_constraints: dict = {
        "layer": [StrOptions(set(LAYER_SIZES))],
        "pooling": [StrOptions(set(POOLINGS))],
        "offset": [Bounded(Real, 0, MAX_OFFSET_SECONDS, closed="both", why=OFFSET_REASON),
                   StrOptions({"center", "all"})],
        "max_windows": [Bounded(Integral, 1, MAX_WINDOWS, closed="both", why=WINDOWS_REASON)],
        "duration": [Bounded(Real, 0, MAX_WINDOW_SECONDS, closed="right", why=WINDOW_REASON),
                     None],
        "patch_hop": [Bounded(Real, MIN_PATCH_HOP_SECONDS, MAX_WINDOW_SECONDS, closed="both",
                              why=PATCH_HOP_REASON), None],
        "on_error": [StrOptions({"raise", "nan"})],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        layer: str = "penultimate",
        pooling: str = "mean",
        offset: float | str = 0.0,
        max_windows: int = 20,
        duration: float | None = None,
        patch_hop: float | None = None,
        on_error: str = "raise",
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.layer = layer
        self.pooling = pooling
        self.offset = offset
        self.max_windows = max_windows
        self.duration = duration
        self.patch_hop = patch_hop
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> MusicnnEmbedder:
        """Check the parameters and the form of ``X``, and load the network; no file is read.

        Parameters
        ----------
        X : sequence of str or os.PathLike
            Audio file paths (list, 1-D array, pandas Series, or one-column 2-D
            array or DataFrame).
        y : None
            Ignored.

        Returns
        -------
        self : MusicnnEmbedder
            The fitted embedder.
        """
        validate_paths(X)
        spec = self._spec()
        prepare_decoding()
        MusicnnNetwork.shipped()  # the weights, read and checked once per process
        self.n_features_out_ = spec.shape([])[-1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Embed every file.

        Parameters
        ----------
        X : sequence of str or os.PathLike
            Audio file paths.

        Returns
        -------
        ndarray, float32
            ``(n_files, n_features_out_)`` when pooled; ``(n_files, n_patches, 1,
            size)`` with ``pooling="none"``, where ``n_patches`` is the patches of
            ``duration`` seconds, or with ``duration=None`` the most any file gives (the
            shorter files' extra patches are NaN).  Bad files (with ``on_error="nan"``)
            are NaN rows.

        Raises
        ------
        ValueError
            Listing every file that gives no embedding, when ``on_error="raise"``.
        """
        return self._extract(X)[0]

    def transform_with_report(self, X: Any) -> tuple[np.ndarray, list[FileReport]]:
        """:meth:`transform`, and what became of each file, as data.

        Parameters
        ----------
        X : sequence of str or os.PathLike
            Audio file paths.

        Returns
        -------
        embeddings : ndarray
            As :meth:`transform` returns them.
        reports : list of FileReport
            One per path, in order: ``status`` ``"ok"``, ``"partial"`` (fewer patches
            than ``duration`` holds) or ``"failed"`` (only with ``on_error="nan"``), the
            ``reason``, and ``n_filled`` of ``n_expected`` patches.
        """
        return self._extract(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the pooled output columns (tag names for ``layer="taggram"``).

        Returns
        -------
        ndarray of str, shape (n_features_out_,)
            ``"rock"``, ... for the taggram, ``"penultimate0"``, ... otherwise; the
            standard deviations of ``pooling="mean+std"`` end in ``"_std"``.
        """
        check_is_fitted(self)
        if self.pooling == "none":
            raise ValueError(
                "pooling='none' gives a 4-D track array, which has no feature names; "
                "choose pooling='mean', 'mean+std' or 'max'."
            )
        size = LAYER_SIZES[self.layer]
        base = list(MSD_TAGS) if self.layer == "taggram" else [f"{self.layer}{i}" for i in range(size)]
        if self.pooling == "mean+std":
            base += [f"{name}_std" for name in base]
        return np.asarray(base, dtype=object)

    def _spec(self) -> PatchSpec:
        """The validated parameters as a :class:`PatchSpec`; checks their combination."""
        if self.offset in ("center", "all") and self.duration is None:
            what = "centres a window" if self.offset == "center" else "cuts the file into windows"
            raise ValueError(
                f"offset={self.offset!r} {what} of `duration` seconds, but duration=None "
                "(the whole file); set duration, e.g. duration=30.0, or offset=0.0."
            )
        if self.duration is not None and self.duration < MIN_PATCH_SECONDS:
            raise ValueError(
                f"duration={self.duration!r} is shorter than one musicnn patch "
                f"({MIN_PATCH_SECONDS:.3f} s); use duration >= {MIN_PATCH_SECONDS:.3f} or None."
            )
        hop_frames = hop_frames_for(self.patch_hop)
        if self.duration is not None:
            n_patches = n_patches_for(int(round(self.duration * SR)), hop_frames)
            if n_patches * PATCH_FRAMES * N_MELS > MAX_FILE_VALUES:
                raise ValueError(
                    f"duration={self.duration!r} with patch_hop={self.patch_hop!r} gives "
                    f"{n_patches} patches of {PATCH_FRAMES} x {N_MELS} log-mel values per "
                    f"file, more than {MAX_FILE_VALUES:,} values ({FILE_VALUES_REASON}); use "
                    "a longer patch_hop or a shorter duration."
                )
            if self.offset == "all" and self.pooling == "none":
                kept = self.max_windows * n_patches * LAYER_SIZES[self.layer]
                if kept > MAX_FILE_VALUES:
                    raise ValueError(
                        f"pooling='none' keeps {self.max_windows} windows x {n_patches} "
                        f"patches x {LAYER_SIZES[self.layer]} values = {kept:,} per file, more "
                        f"than {MAX_FILE_VALUES:,} ({FILE_VALUES_REASON}); use fewer "
                        "max_windows, a shorter duration or a pooling."
                    )
        return PatchSpec(
            offset=self.offset if isinstance(self.offset, str) else float(self.offset),
            duration=None if self.duration is None else float(self.duration),
            hop_frames=hop_frames,
            layer=self.layer,
            pooling=self.pooling,
            max_windows=int(self.max_windows),
        )
