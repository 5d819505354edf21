"""Train the pretrained model that ships in sk_audio_genre/data/pretrained, and measure it.

Reproduces the shipped files (same seed, same data -> same weights on the same platform):

    python benchmarks/train_pretrained.py --data ../shared/data/gtzan --out sk_audio_genre/data/pretrained

1. Lists the GTZAN tracks in --data and keeps the fault-filtered *test* list (Kereliuk, Sturm &
   Larsen 2015) out of everything below except the last held-out check.
2. Computes each track's MFCC segments once (the recipe's MFCCSegmenter).
3. Cross-validates by track (repeated stratified 5-fold; every split keeps a track's segments on
   one side) the baseline -- logistic regression on each track's MFCC means and standard
   deviations -- a single CNN, a three-CNN ensemble on the same segments, and the recipe -- a
   three-CNN ensemble whose members see 6 s segments, their 3 s halves and overlapping 6 s
   windows -- printing mean +- std of the fold accuracies (single CNN = the mean accuracy of
   the same-segment ensemble's members, each scored alone).
4. Fits the recipe on all training tracks, prints its accuracy on the test-list tracks, and
   saves it with save_pipeline (JSON + Keras weights, no pickle).

``--cv-repeats 0`` skips step 3.  Figures come from the 78-track development subset of GTZAN;
with so few tracks, fold accuracies vary by +-0.1 or more.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_audio_genre import MFCCSegmenter, SegmentScaler
from sk_audio_genre.datasets import fault_filtered_split, load_gtzan

SEED = 0

#: The shipped recipe: the segmenter, the member network (after a SegmentScaler), and the
#: time scales of the ensemble's members (CNNGenreClassifier's segment_window).
SEGMENTER = dict(n_segments=5, segment_duration=6.0, offset="center")
CLASSIFIER = ("CNNGenreClassifier", dict(batch_norm=True, learning_rate=1e-3, epochs=30))
SEGMENT_WINDOWS = [None, (65, 65), (130, 65)]


def make_classifier(seed: int, segment_windows=SEGMENT_WINDOWS):
    """The recipe's soft-voting ensemble, its members' seeds drawn from ``seed``."""
    from sk_audio_genre import classifiers
    from sk_audio_genre.ensemble import seed_ensemble

    name, params = CLASSIFIER
    member = getattr(classifiers, name)(**params)
    return seed_ensemble(member, n_members=len(segment_windows), random_state=seed,
                         segment_windows=segment_windows)


def make_baseline():
    """Logistic regression on each track's per-coefficient MFCC mean and standard deviation."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def track_statistics(X: np.ndarray) -> np.ndarray:
    frames = X.reshape(len(X), -1, X.shape[-1])
    return np.concatenate([np.nanmean(frames, axis=1), np.nanstd(frames, axis=1)], axis=1)


def cross_validate(X, y, repeats: int) -> dict[str, list[float]]:
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=SEED)
    stats = track_statistics(X)
    scores: dict[str, list[float]] = {
        "baseline": [], "single CNN": [], "3 CNNs, same segments": [], "recipe": []}
    for fold, (train, test) in enumerate(cv.split(X, y)):
        baseline = make_baseline().fit(stats[train], y[train])
        scores["baseline"].append(baseline.score(stats[test], y[test]))
        seeds = make_pipeline(SegmentScaler(), make_classifier(SEED + fold, [None] * 3))
        seeds.fit(X[train], y[train])
        scaled = seeds[0].transform(X[test])
        members = seeds[-1].estimators_
        labels = seeds[-1].le_.inverse_transform
        scores["single CNN"].append(float(np.mean(
            [np.mean(labels(m.predict(scaled)) == y[test]) for m in members])))
        scores["3 CNNs, same segments"].append(seeds.score(X[test], y[test]))
        recipe = make_pipeline(SegmentScaler(), make_classifier(SEED + fold))
        scores["recipe"].append(recipe.fit(X[train], y[train]).score(X[test], y[test]))
        print(f"  fold {fold + 1:2d}: " + "  ".join(f"{k} {v[-1]:.3f}" for k, v in scores.items()),
              flush=True)
    return scores


def main() -> None:
    from sk_audio_genre.pretrained import save_pipeline

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/gtzan", help="GTZAN-style folder")
    parser.add_argument("--out", default="sk_audio_genre/data/pretrained", help="model folder")
    parser.add_argument("--cv-repeats", type=int, default=2, help="repeats of 5-fold CV (0: skip)")
    parser.add_argument("--jobs", type=int, default=None, help="files decoded in parallel")
    parser.add_argument("--report", default=None, metavar="FILE",
                        help="also write the printed summary (CV folds, held-out check) as JSON")
    args = parser.parse_args()
    start = time.monotonic()

    data = load_gtzan(args.data)
    test = fault_filtered_split(data.track_ids).test
    print(
        f"{len(data.paths)} tracks in {args.data}; {int(test.sum())} in the fault-filtered test "
        f"list, held out: {', '.join(data.track_ids[test]) or 'none'}"
    )
    segmenter = MFCCSegmenter(**SEGMENTER, n_jobs=args.jobs).fit(data.paths)
    X = segmenter.transform(data.paths)
    y = np.asarray(data.genres)
    X_train, y_train = X[~test], y[~test]
    print(f"features {X.shape} in {time.monotonic() - start:.0f} s")

    summary = {"recipe": {"segmenter": SEGMENTER, "classifier": CLASSIFIER,
                          "segment_windows": SEGMENT_WINDOWS}}
    if args.cv_repeats:
        print(f"cross-validation over {len(y_train)} training tracks, "
              f"{args.cv_repeats} x stratified 5-fold:")
        scores = cross_validate(X_train, y_train, args.cv_repeats)
        for name, values in scores.items():
            print(f"{name:>21}: {np.mean(values):.3f} +- {np.std(values):.3f} "
                  f"(min {np.min(values):.3f}, max {np.max(values):.3f}, {len(values)} folds)")
        summary["cv"] = {k: [float(v) for v in vals] for k, vals in scores.items()}

    scaler = SegmentScaler().fit(X_train)
    clf = make_classifier(SEED).fit(scaler.transform(X_train), y_train)
    pipe = Pipeline([("mfcc", segmenter), ("scale", scaler), ("clf", clf)])
    if test.any():
        proba = clf.predict_proba(scaler.transform(X[test]))
        for track, genre, row in zip(data.track_ids[test], y[test], proba, strict=True):
            order = np.argsort(-row)[:3]
            top = ", ".join(f"{clf.classes_[i]} {row[i]:.2f}" for i in order)
            print(f"held-out {track} (true {genre}): {top}")
        accuracy = float(np.mean(clf.classes_[proba.argmax(axis=1)] == y[test]))
        print(f"held-out test-list accuracy: {accuracy:.3f} ({int(test.sum())} tracks)")
        summary["test_list"] = {"tracks": data.track_ids[test].tolist(), "accuracy": accuracy}

    for stale in [*Path(args.out).glob("*.weights.h5"), Path(args.out) / "pipeline.json"]:
        stale.unlink(missing_ok=True)  # a previous recipe's files must not linger
    out = save_pipeline(pipe, args.out)
    for path in sorted(out.iterdir()):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    summary["total_seconds"] = round(time.monotonic() - start)
    print(json.dumps(summary))
    if args.report:
        Path(args.report).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"total {summary['total_seconds']} s")


if __name__ == "__main__":
    main()
