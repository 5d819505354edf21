"""Which head on musicnn embeddings classifies GTZAN genres best?  An honest comparison.

Every candidate is a scikit-learn estimator on features computed once per track over the
middle 29.92 s (the library's MusicnnEmbedder and MFCCSegmenter as the shipped recipe
configures them, cached by ``_features.py``):

* the baseline: logistic regression on each track's MFCC means and standard deviations;
* logistic regression on the mean (or mean and standard deviation) over a track's 3 s
  patches of musicnn's penultimate layer, at two regularisation strengths;
* an RBF SVC on the mean embedding;
* logistic regression and a small Keras MLP trained on every patch
  (``SegmentClassifier`` / ``MLPGenreClassifier`` on ``pooling="none"``), a track's
  patch probabilities averaged;
* the mean embedding with the MFCC statistics added;
* the 50 MSD tag probabilities, and the 753-value mean pool, instead of the penultimate.

Two evaluations:

1. **Repeated stratified 5-fold CV** over the tracks outside the fault-filtered test list
   (the shipped model's training tracks).  GTZAN repeats artists, so random folds put one
   artist's songs on both sides: these figures are optimistic.
2. **Artist-disjoint**: trained on the fault-filtered train list and tested on the valid
   list, and the other way round (Kereliuk, Sturm & Larsen 2015).  On this subset the
   lists hold few tracks per genre and some genres only on one side; accuracy counts the
   test tracks of genres that have training tracks.

For each candidate: accuracy (mean +- std over folds, and folds better / equal / worse than
the baseline), log loss and the top-label expected calibration error (15 bins) of the
out-of-fold probabilities.  Writes ``heads.json`` and ``heads.md`` to ``--out``.

    python benchmarks/heads.py --data ../shared/data/gtzan --out docs/_static/benchmarks --repeats 4
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _calibration import expected_calibration_error  # noqa: E402
from _features import gtzan_features, pool  # noqa: E402
from _report import command_line, machine_info, recorded_path, versions  # noqa: E402

from sk_audio_genre import SegmentClassifier, SegmentScaler  # noqa: E402
from sk_audio_genre.datasets import fault_filtered_split, load_gtzan  # noqa: E402

SEED = 0
BASELINE = "MFCC statistics + LR"
#: The simplest embedding head; the others are also compared with it fold by fold.
SIMPLEST = "musicnn mean + LR"


def logistic(C: float = 1.0):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))


def keras_patch_mlp():
    from sk_audio_genre import MLPGenreClassifier

    return make_pipeline(
        SegmentScaler(),
        MLPGenreClassifier(hidden_layer_sizes=(128,), dropout=0.5, epochs=40,
                           learning_rate=1e-3, random_state=SEED),
    )


def candidates(features: dict) -> dict[str, tuple[np.ndarray, object]]:
    """Name -> (feature matrix, unfitted estimator factory)."""
    penultimate = features["musicnn_penultimate"]
    mean = pool(penultimate, "mean")
    stats = features["mfcc_statistics"]
    return {
        BASELINE: (stats, logistic),
        "musicnn mean + LR": (mean, logistic),
        "musicnn mean + LR (C=0.1)": (mean, lambda: logistic(0.1)),
        "musicnn mean+std + LR": (pool(penultimate, "mean+std"), logistic),
        "musicnn mean + SVC": (mean, lambda: make_pipeline(
            StandardScaler(), CalibratedClassifierCV(SVC(), ensemble=False))),
        "musicnn patches + LR": (penultimate, lambda: SegmentClassifier(logistic())),
        "musicnn patches + MLP (Keras)": (penultimate, keras_patch_mlp),
        "musicnn mean + MFCC statistics + LR": (np.concatenate([mean, stats], axis=1), logistic),
        "musicnn taggram mean + LR": (pool(features["musicnn_taggram"], "mean"), logistic),
        "musicnn mean_pool mean + LR": (pool(features["musicnn_mean_pool"], "mean"), logistic),
    }


def evaluate_cv(models, y, repeats):
    """Fold accuracies and out-of-fold probabilities of every candidate."""
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=SEED)
    classes = np.unique(y)
    results = {name: {"folds": [], "oof": np.zeros((repeats, len(y), len(classes)))}
               for name in models}
    for fold, (train, test) in enumerate(cv.split(np.zeros(len(y)), y)):
        for name, (X, make) in models.items():
            model = make().fit(X[train], y[train])
            proba = model.predict_proba(X[test])
            results[name]["folds"].append(float(np.mean(classes[proba.argmax(1)] == y[test])))
            results[name]["oof"][fold // 5][test] = proba
        print(f"fold {fold + 1}/{5 * repeats}: " + ", ".join(
            f"{n.split(' + ')[-1] if n != BASELINE else 'baseline'} {r['folds'][-1]:.2f}"
            for n, r in results.items()), file=sys.stderr, flush=True)
    return results, classes


def summarise_cv(results, classes, y):
    base = np.asarray(results[BASELINE]["folds"])
    simplest = np.asarray(results[SIMPLEST]["folds"])
    table = {}
    for name, r in results.items():
        folds = np.asarray(r["folds"])
        oof = r["oof"]
        true_index = np.searchsorted(classes, y)
        table[name] = {
            "accuracy_mean": float(folds.mean()),
            "accuracy_std": float(folds.std()),
            "folds": folds.round(4).tolist(),
            "vs_baseline": [int((folds > base).sum()), int((folds == base).sum()),
                            int((folds < base).sum())],
            "vs_simplest": [int((folds > simplest).sum()), int((folds == simplest).sum()),
                            int((folds < simplest).sum())],
            "log_loss": float(np.mean([log_loss(y, p, labels=classes) for p in oof])),
            "ece": float(np.mean([expected_calibration_error(true_index, p) for p in oof])),
        }
    return table


def evaluate_artist_disjoint(models, y, track_ids):
    """Train on one fault-filtered list, test on the other's tracks of seen genres."""
    split = fault_filtered_split(track_ids)
    out = {}
    for train_name, test_name in [("train", "valid"), ("valid", "train")]:
        train, test = split[train_name], split[test_name]
        seen = test & np.isin(y, np.unique(y[train]))
        direction = {"n_train": int(train.sum()), "n_test_seen_genres": int(seen.sum()),
                     "n_test_unseen_genres": int((test & ~seen).sum()), "accuracy": {}}
        for name, (X, make) in models.items():
            model = make().fit(X[train], y[train])
            direction["accuracy"][name] = float(model.score(X[seen], y[seen]))
        out[f"{train_name} -> {test_name}"] = direction
    return out


def write_markdown(path: Path, report: dict) -> None:
    cv, data = report["cv"], report["data"]
    lines = [
        "# Heads on musicnn embeddings", "",
        f"{data['n_cv_tracks']} GTZAN tracks (the development subset without the fault-filtered "
        f"test list), {report['settings']['repeats']} x stratified 5-fold CV = "
        f"{5 * report['settings']['repeats']} folds of about {data['n_cv_tracks'] // 5} test "
        "tracks. Random folds put songs of one artist on both sides, so these accuracies are "
        "optimistic; the artist-disjoint table below is the harder test.", "",
        "| head | CV accuracy | folds better / equal / worse than the baseline | "
        f"... than {SIMPLEST} | log loss | ECE |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in sorted(cv.items(), key=lambda kv: -kv[1]["accuracy_mean"]):
        wins = "" if name == BASELINE else " / ".join(map(str, r["vs_baseline"]))
        paired = "" if name in (BASELINE, SIMPLEST) else " / ".join(map(str, r["vs_simplest"]))
        lines.append(f"| {name} | {r['accuracy_mean']:.3f} +- {r['accuracy_std']:.3f} | {wins} | "
                     f"{paired} | {r['log_loss']:.3f} | {r['ece']:.3f} |")
    first, second = sorted(cv, key=lambda n: -cv[n]["accuracy_mean"])[:2]
    a, b = np.asarray(cv[first]["folds"]), np.asarray(cv[second]["folds"])
    lines += ["", f"Head to head, the two most accurate: {first} is better / equal / worse than "
              f"{second} on {(a > b).sum()} / {(a == b).sum()} / {(a < b).sum()} folds."]
    lines += ["", "ECE: top-label expected calibration error (15 equal-width bins) of the "
              "out-of-fold probabilities, mean over repeats; lower is better calibrated.", "",
              "## Artist-disjoint (fault-filtered lists)", ""]
    directions = report["artist_disjoint"]
    header = " | ".join(f"{d} ({v['n_train']} train, {v['n_test_seen_genres']} test)"
                        for d, v in directions.items())
    lines += [f"| head | {header} |", "|---|" + "---:|" * len(directions)]
    for name in cv:
        lines.append(f"| {name} | " + " | ".join(
            f"{v['accuracy'][name]:.3f}" for v in directions.values()) + " |")
    lines += ["", "Test tracks of genres with no training track on that side are left out "
              "(" + ", ".join(f"{d}: {v['n_test_unseen_genres']}" for d, v in directions.items())
              + "). One test track is "
              + " and ".join(f"{100 / v['n_test_seen_genres']:.1f}" for v in directions.values())
              + " points.", "",
              f"Run: `{report['command']}`, {report['date']}, {report['total_seconds']:.0f} s.", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/gtzan")
    parser.add_argument("--out", default="results")
    parser.add_argument("--cache", default="results/cache")
    parser.add_argument("--repeats", type=int, default=4, help="repeats of stratified 5-fold CV")
    args = parser.parse_args()
    start = time.perf_counter()
    data = load_gtzan(args.data)
    features = gtzan_features(data, args.cache, layers=("penultimate", "taggram", "mean_pool"))
    y, ids = np.asarray(data.genres), np.asarray(data.track_ids)
    models = candidates(features)
    keep = ~fault_filtered_split(ids).test
    results, classes = evaluate_cv({n: (X[keep], m) for n, (X, m) in models.items()},
                                   y[keep], args.repeats)
    report = {
        "benchmark": "heads",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "machine": machine_info(), "versions": versions(),
        "data": {"folder": recorded_path(args.data), "n_tracks": len(y),
                 "n_cv_tracks": int(keep.sum())},
        "settings": {"repeats": args.repeats, "seed": SEED},
        "cv": summarise_cv(results, classes, y[keep]),
        "artist_disjoint": evaluate_artist_disjoint(models, y, ids),
    }
    report["total_seconds"] = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "heads.json").write_text(json.dumps(report, indent=1) + "\n")
    write_markdown(out / "heads.md", report)
    print((out / "heads.md").read_text())


if __name__ == "__main__":
    main()
