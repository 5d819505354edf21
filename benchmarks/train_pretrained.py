"""Train the pretrained model that ships in sk_audio_genre/data/pretrained, and measure it.

    python benchmarks/train_pretrained.py --data ../shared/data/gtzan --out sk_audio_genre/data/pretrained

1. Lists the GTZAN tracks in --data and keeps the fault-filtered *test* list (Kereliuk,
   Sturm & Larsen 2015) out of training.
2. Cross-validates the recipe (``sk_audio_genre.recipes.musicnn_recipe``: musicnn
   embedding + MFCC statistics -> StandardScaler -> LogisticRegression) by track with
   repeated stratified 5-fold CV on the training tracks, against the MFCC-statistics
   baseline, on features computed once (the feature steps learn nothing, so this equals
   cross-validating the whole pipeline).  Prints mean +- std of the fold accuracies and the
   folds better / equal / worse than the baseline.
3. Fits the recipe on all training tracks (from the audio files), prints its predictions
   for the held-out test-list tracks, and saves it with ``save_pipeline`` (JSON + arrays, no
   pickle), recording the training tracks' ids and SHA-256 digests as metadata.
4. Prints the model's digest: paste it into ``PRETRAINED_SHA256`` in
   ``sk_audio_genre/pretrained.py``.

The recipe's last step is an ``OpenSetClassifier``: its threshold is calibrated on
artist-disjoint held-out tracks, the fault-filtered train list held out from the others and
the valid list likewise (``benchmarks/open_set.py`` measures what it does).  The accuracies
here are the closed-set classifier's (the logistic regression inside it).

``--report FILE`` also writes the summary as JSON (``docs/_static/benchmarks/
train_pretrained.json``).  Figures come from the development subset of GTZAN in ``--data``;
random folds share artists, so they are optimistic (``heads.py`` also reports an
artist-disjoint evaluation).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import LeaveOneGroupOut, RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _features import recipe_features  # noqa: E402

from sk_audio_genre.datasets import fault_filtered_split, load_gtzan  # noqa: E402
from sk_audio_genre.model_format import model_digest, save_pipeline, training_record  # noqa: E402
from sk_audio_genre.recipes import musicnn_recipe  # noqa: E402

SEED = 0


def head():
    """The recipe after its feature step, closed-set: StandardScaler -> the logistic
    regression its OpenSetClassifier wraps."""
    recipe = musicnn_recipe()
    return make_pipeline(clone(recipe.named_steps["scale"]),
                         clone(recipe.named_steps["classify"].estimator))


def artist_groups(ids) -> np.ndarray:
    """Each track's fault-filtered list (0 train, 1 valid, 2 test, 3 none): artists do not
    cross the lists, so holding one list out holds its artists out."""
    masks = fault_filtered_split(ids)
    return np.select([masks.train, masks.valid, masks.test], [0, 1, 2], default=3)


def cross_validate(features, y, repeats):
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=SEED)
    scores = {"baseline": [], "recipe": []}
    for train, test in cv.split(features["recipe"], y):
        for name in scores:
            model = head().fit(features[name][train], y[train])
            scores[name].append(float(model.score(features[name][test], y[test])))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/gtzan", help="GTZAN-style folder")
    parser.add_argument("--out", default="sk_audio_genre/data/pretrained", help="model folder")
    parser.add_argument("--cache", default="results/cache", help="feature cache folder")
    parser.add_argument("--cv-repeats", type=int, default=4, help="repeats of 5-fold CV (0: skip)")
    parser.add_argument("--report", default=None, metavar="FILE", help="also write JSON")
    args = parser.parse_args()
    start = time.monotonic()

    data = load_gtzan(args.data)
    y, ids = np.asarray(data.genres), np.asarray(data.track_ids)
    test = fault_filtered_split(ids).test
    train_paths = [p for p, t in zip(data.paths, test, strict=True) if not t]
    print(f"{len(y)} tracks in {args.data}; held out (fault-filtered test list): "
          f"{', '.join(ids[test]) or 'none'}")
    summary: dict = {"recipe": repr(musicnn_recipe()), "n_train": int((~test).sum())}

    if args.cv_repeats:
        features = recipe_features(data, args.cache)
        scores = cross_validate({k: v[~test] for k, v in features.items()}, y[~test],
                                args.cv_repeats)
        base, recipe = np.asarray(scores["baseline"]), np.asarray(scores["recipe"])
        print(f"{args.cv_repeats} x stratified 5-fold CV over {int((~test).sum())} tracks:")
        for name, values in (("baseline (MFCC statistics + LR)", base), ("recipe", recipe)):
            print(f"  {name:32s} {values.mean():.3f} +- {values.std():.3f}")
        print(f"  recipe better / equal / worse than baseline: {(recipe > base).sum()} / "
              f"{(recipe == base).sum()} / {(recipe < base).sum()} folds")
        summary["cv"] = scores

    groups = artist_groups(ids[~test])
    calibration = list(LeaveOneGroupOut().split(groups, groups=groups))
    model = musicnn_recipe().set_params(classify__cv=calibration)
    model.fit(train_paths, y[~test])
    summary["open_set"] = {
        "calibration": "held out by fault-filtered list: " + ", ".join(
            f"{name} ({int((groups == g).sum())} tracks)"
            for g, name in enumerate(["train list", "valid list", "test list", "no list"])
            if (groups == g).any()),
        "threshold": model.named_steps["classify"].threshold_,
        "false_rejection_rate": model.named_steps["classify"].false_rejection_rate,
    }
    if test.any():
        test_paths = [p for p, t in zip(data.paths, test, strict=True) if t]
        proba = model.predict_proba(test_paths)
        for track, genre, row in zip(ids[test], y[test], proba, strict=True):
            order = np.argsort(-row)[:3]
            top = ", ".join(f"{model.classes_[i]} {row[i]:.2f}" for i in order)
            print(f"held-out {track} (true {genre}): {top}")
        summary["test_list"] = {"tracks": ids[test].tolist(),
                                "predicted": model.classes_[proba.argmax(1)].tolist()}

    with warnings.catch_warnings():  # the calibration splits are arrays, not JSON: the saved
        # model records the default cv, and this summary and the model card say what was used
        warnings.filterwarnings("ignore", message=r".*\['cv'\] cannot be saved as JSON")
        out = save_pipeline(model, args.out,
                            metadata={"trained_on": training_record(ids[~test], train_paths)})
    for path in sorted(out.iterdir()):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    summary["digest"] = model_digest(out)
    summary["total_seconds"] = round(time.monotonic() - start)
    print(f"model digest (PRETRAINED_SHA256): {summary['digest']}")
    if args.report:
        Path(args.report).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"total {summary['total_seconds']} s")


if __name__ == "__main__":
    main()
