"""The pretrained genre model that ships with the package.

musicnn's embedding of the middle 30 s of a song, with that window's MFCC statistics beside
it, standardised and classified by logistic regression into GTZAN's 10 genres.  It won an
honest comparison of heads (``benchmarks/heads.py``) and is trained by
``benchmarks/train_pretrained.py``; ``docs/model_card.rst`` says how well it does and where
it fails.  It is stored in the no-pickle format of :mod:`sk_audio_genre.model_format`, and
its digest is pinned here, so a changed file is refused.

Importing this module imports neither TensorFlow nor the network's weights.
"""

from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path
from typing import Any

from .model_format import load_pipeline
from .recipes import musicnn_recipe

__all__ = ["PRETRAINED_SHA256", "load_pretrained", "pretrained_dir", "set_analysis"]

#: The digest of the shipped model folder (see :func:`~sk_audio_genre.model_format.model_digest`).
PRETRAINED_SHA256 = "bdc9fe6a00422fe2429d8a694657a770de0550c99ea556e390c0502b22358c5f"


def pretrained_dir() -> Path:
    """The folder of the shipped pretrained model (inside the installed package)."""
    return Path(str(resources.files("sk_audio_genre").joinpath("data", "pretrained")))


def pretrained_recipe() -> Any:
    """Deprecated: the shipped model's recipe is :func:`~sk_audio_genre.recipes.musicnn_recipe`.

    .. deprecated:: 0.1
        One name for one recipe; ``pretrained_recipe`` will be removed.
    """
    warnings.warn("pretrained_recipe() is deprecated and will be removed; use "
                  "sk_audio_genre.recipes.musicnn_recipe().", FutureWarning, stacklevel=2)
    return musicnn_recipe()


def load_pretrained(*, offset: float | str = "center", on_error: str = "raise") -> Any:
    """The pretrained genre classifier that ships with the package, ready to predict.

    A fitted :class:`~sklearn.pipeline.Pipeline`
    (:func:`~sk_audio_genre.recipes.musicnn_recipe`) trained on the 110 GTZAN tracks of the
    development subset outside the fault-filtered test list.
    It takes a list of audio file paths (any format libsndfile reads) and predicts one of
    GTZAN's 10 genres for each from the 29.92 s window at ``offset``.  See
    ``docs/model_card.rst`` for its accuracy, calibration and limits.

    Parameters
    ----------
    offset : float or "center", default="center"
        Where in each file the analysed window starts, in seconds; ``"center"`` takes
        the middle of long songs.
    on_error : {"raise", "nan"}, default="raise"
        ``"nan"`` turns unreadable files into NaN features instead of an error (the
        classifier then refuses them: it never guesses a genre without features).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        The fitted pipeline; ``pipeline.classes_`` are the genres.

    Raises
    ------
    ValueError
        If the shipped files differ from the pinned digest (a damaged installation).

    See Also
    --------
    sk_audio_genre.model_format.load_pipeline : Load any model saved with ``save_pipeline``.

    Examples
    --------
    >>> from sk_audio_genre import load_pretrained
    >>> model = load_pretrained()
    >>> model.classes_.tolist()[:3]
    ['blues', 'classical', 'country']
    >>> model.predict(["song.mp3"])                                 # doctest: +SKIP
    array(['rock'], dtype='<U9')
    """
    pipe = load_pipeline(pretrained_dir(), sha256=PRETRAINED_SHA256)
    return set_analysis(pipe, offset=offset, on_error=on_error)


def set_analysis(model: Any, **settings: Any) -> Any:
    """Set ``offset``, ``on_error`` (and any such parameter) on every step that has it."""
    names = {key: key.rsplit("__", 1)[-1] for key in model.get_params(deep=True)}
    model.set_params(**{key: settings[name] for key, name in names.items() if name in settings})
    return model
