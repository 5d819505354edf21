"""Compare the MLP, CNN and LSTM genre classifiers, and a classic baseline, on one track split.

Features are extracted once with MFCCSegmenter; every model is trained on the same
training tracks and scored on the same test tracks (a track's five segments are always
on one side).  For each model the script reports track accuracy and macro-F1 on the test
tracks, segment accuracy, fit seconds, predict milliseconds per track and parameter count,
and saves a confusion matrix.  It also plots learning curves, compares the seed's three
optimisation modes (full-batch, mini-batch, stochastic gradient descent) on the MLP, and
with ``--leaky`` reproduces the seed's segment-level random split on the CNN to show how
much putting segments of one track on both sides inflates accuracy.

    python benchmarks/compare.py --data ../shared/data/gtzan --out results/
    python benchmarks/compare.py --data ../shared/data/gtzan --split fault-filtered --leaky
    python benchmarks/compare.py --data ../shared/data/gtzan --quick --out /tmp/smoke   # ~1-2 min

Splits (``--split``):

* ``stratified`` (default): a stratified random ``--test-size`` fraction of the tracks is
  held out.  GTZAN repeats artists (e.g. most blues tracks 0-11 are by one artist), so
  songs by one artist can sit on both sides and the figures are optimistic.
* ``fault-filtered``: the artist-disjoint lists of Kereliuk, Sturm & Larsen (2015) via
  ``sk_audio_genre.datasets.fault_filtered_split``.  If the folder has at least 2 tracks of
  every genre in the *test* list, models are trained on the train and valid lists and
  tested on the test list; otherwise (as with the 78-track development subset, which has a
  single test-list track) they are trained on the train list and tested on the valid list.
  The output says which.  Genres with no training track cannot be predicted; the output
  lists them and also gives accuracy over the test tracks of the other genres.

Writes to ``--out``: ``compare.json``, ``compare.md``, ``confusion_<model>.png``,
``learning_curves.png`` and ``optimisation_modes.png``.  Progress goes to stderr.
"""

import argparse
import datetime
import json
import math
import os
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, confusion_matrix, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from sk_audio_genre import (  # noqa: E402
    CNNGenreClassifier,
    LSTMGenreClassifier,
    MFCCSegmenter,
    MLPGenreClassifier,
    MusicnnEmbedder,
    SegmentScaler,
)
from sk_audio_genre.datasets import fault_filtered_split, load_gtzan  # noqa: E402
from _report import (  # noqa: E402  (benchmarks/, beside this script)
    command_line,
    machine_info,
    recorded_path,
    versions,
)

import keras  # noqa: E402  (after sk_audio_genre, which quiets TensorFlow's start-up logs)

START = time.perf_counter()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="GTZAN-style folder (one sub-folder per genre)")
    parser.add_argument("--split", choices=["stratified", "fault-filtered"], default="stratified")
    parser.add_argument("--test-size", type=float, default=0.3, help="held-out fraction for --split stratified")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per model (default 30; 3 with --quick)")
    parser.add_argument("--opt-epochs", type=int, default=None,
                        help="epoch budget of each optimisation mode (default: --epochs; 2 with --quick)")
    parser.add_argument("--max-tracks-per-genre", type=int, default=None,
                        help="use only the first N tracks of each genre (default all; 5 with --quick)")
    parser.add_argument("--no-scale", action="store_true",
                        help="feed raw MFCCs to the networks as the seed did (default: SegmentScaler "
                             "fitted on the training tracks)")
    parser.add_argument("--leaky", action="store_true", help="also train the CNN on the seed's segment-level split")
    parser.add_argument("--quick", action="store_true", help="small smoke run for CI (a minute or two)")
    parser.add_argument("--n-jobs", type=int, default=-1, help="MFCCSegmenter n_jobs (default -1: all CPUs)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split and every model")
    parser.add_argument("--out", default="results", help="output folder")
    args = parser.parse_args()
    if args.epochs is None:
        args.epochs = 3 if args.quick else 30
    if args.opt_epochs is None:
        args.opt_epochs = 2 if args.quick else args.epochs
    if args.max_tracks_per_genre is None and args.quick:
        args.max_tracks_per_genre = 5
    return args


def log(message):
    print(f"[{time.perf_counter() - START:7.1f}s] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data and split

def load_tracks(folder, max_per_genre):
    """Paths, genres and ids of the folder's tracks, at most ``max_per_genre`` per genre."""
    data = load_gtzan(folder)
    keep = np.ones(len(data.paths), dtype=bool)
    if max_per_genre is not None:
        rank_in_genre = np.array([np.sum(data.genres[:i] == g) for i, g in enumerate(data.genres)])
        keep = rank_in_genre < max_per_genre
    return data.root, data.paths[keep], data.genres[keep], data.track_ids[keep]


def per_genre(genres):
    names, counts = np.unique(genres, return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts)}


def split_tracks(track_ids, genres, args):
    """Indices of the training and test tracks, and a description of the split."""
    indices = np.arange(len(track_ids))
    if args.split == "stratified":
        train, test = train_test_split(indices, test_size=args.test_size, stratify=genres,
                                       random_state=args.seed)
        description = (f"stratified random split of tracks ({1 - args.test_size:.0%} train / "
                       f"{args.test_size:.0%} test, seed {args.seed}); songs by one artist can be on "
                       "both sides (GTZAN's artist repetition), so the figures are optimistic")
        protocol = "stratified"
    else:
        masks = fault_filtered_split(track_ids)
        test_per_genre = {g: int(np.sum(masks.test & (genres == g))) for g in np.unique(genres)}
        if min(test_per_genre.values()) >= 2:
            train, test = np.flatnonzero(masks.train | masks.valid), np.flatnonzero(masks.test)
            protocol = "train+valid -> test"
            description = ("fault-filtered split (Kereliuk, Sturm & Larsen 2015): trained on the "
                           "train and valid lists, tested on the test list, artist-disjoint")
        else:
            train, test = np.flatnonzero(masks.train), np.flatnonzero(masks.valid)
            protocol = "train -> valid"
            description = ("fault-filtered split (Kereliuk, Sturm & Larsen 2015): trained on the "
                           "train list, tested on the valid list, artist-disjoint (the test list holds "
                           f"only {int(masks.test.sum())} of these tracks, too few to test on)")
        if len(train) == 0 or len(test) == 0:
            raise SystemExit(f"the fault-filtered {protocol} split leaves {len(train)} training and "
                             f"{len(test)} test tracks in {args.data}; use --split stratified")
    unseen = sorted(str(g) for g in set(genres[test]) - set(genres[train]))
    if unseen:
        description += (f". Genres with no training track, which no model can predict: "
                        f"{', '.join(unseen)} ({int(np.isin(genres[test], unseen).sum())} test tracks)")
    split = {"name": args.split, "protocol": protocol, "description": description,
             "n_train": len(train), "n_test": len(test), "n_unused": len(indices) - len(train) - len(test),
             "train_per_genre": per_genre(genres[train]), "test_per_genre": per_genre(genres[test]),
             "genres_not_in_train": unseen}
    return train, test, split


# ----------------------------------------------------------------------------- features

def extract_features(paths, n_jobs):
    start = time.perf_counter()
    X = MFCCSegmenter(n_jobs=n_jobs).fit_transform(list(paths))
    return X, time.perf_counter() - start


def track_summary_features(X):
    """Per-track mean and standard deviation of each MFCC over all frames of all segments."""
    frames = X.reshape(len(X), -1, X.shape[-1])
    return np.concatenate([np.nanmean(frames, axis=1), np.nanstd(frames, axis=1)], axis=1)


# ----------------------------------------------------------------------------- deep models

class EpochLog(keras.callbacks.Callback):
    """Logs every epoch to stderr; records cumulative training seconds and test-segment accuracy.

    The seconds exclude the time spent scoring the test segments (when they are given).
    """

    def __init__(self, name, test_segments=None, test_labels=None):
        super().__init__()
        self.name, self.test_segments, self.test_labels = name, test_segments, test_labels

    def on_train_begin(self, logs=None):
        self.seconds, self.test_accuracy, self.eval_seconds = [], [], 0.0
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start - self.eval_seconds)
        line = f"  {self.name} epoch {epoch + 1}: loss {logs['loss']:.4f} acc {logs['accuracy']:.3f}"
        if self.test_segments is not None:
            tick = time.perf_counter()
            x = self.test_segments
            if len(self.model.input_shape) == 4:  # the CNN takes a channel axis
                x = x[..., np.newaxis]
            pred = np.argmax(self.model.predict_on_batch(x), axis=1)
            self.test_accuracy.append(float(np.mean(pred == self.test_labels)))
            self.eval_seconds += time.perf_counter() - tick
            line += f" test-segment acc {self.test_accuracy[-1]:.3f}"
        log(f"{line} ({self.seconds[-1]:.1f} s)")


def present_test_segments(X_test, y_test, classes):
    """Test segments and their label index in ``classes`` (-1 for a genre not in training)."""
    present = ~np.isnan(X_test[:, :, 0, 0])
    labels = np.repeat(y_test[:, np.newaxis], X_test.shape[1], axis=1)[present]
    index = np.array([np.flatnonzero(classes == g)[0] if g in classes else -1 for g in labels])
    return X_test[present], index


def time_predict(predict, X, repeats=3):
    """Milliseconds per track of ``predict(X)``, warm: one untimed call, then the median of repeats."""
    predict(X)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(X)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) / len(X)


def track_metrics(y_true, y_pred, genres):
    return {
        "track_accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=genres).tolist(),
    }


def seen_genre_accuracy(y_true, y_pred, train_genres):
    """Track accuracy over the test tracks whose genre has training tracks."""
    seen = np.isin(y_true, train_genres)
    return float(accuracy_score(y_true[seen], y_pred[seen])) if seen.any() else None


def segment_accuracy(clf, X_test, y_test):
    """Share of present test segments whose most probable genre is their track's genre."""
    proba = clf.predict_segment_proba(X_test)
    present = ~np.isnan(proba[..., 0])
    predicted = clf.classes_[np.argmax(np.nan_to_num(proba, nan=-1.0), axis=2)]
    truth = np.repeat(y_test[:, np.newaxis], proba.shape[1], axis=1)
    return float(np.mean(predicted[present] == truth[present]))


def make_classifier(name, **params):
    return {"MLP": MLPGenreClassifier, "CNN": CNNGenreClassifier, "LSTM": LSTMGenreClassifier}[name](**params)


def run_deep_model(name, data, genres, args):
    """Train one network with its default hyperparameters; figures and per-epoch curves."""
    X_train, y_train, X_test, y_test = data
    classes = np.unique(y_train)
    test_segments, test_labels = present_test_segments(X_test, y_test, classes)
    epoch_log = EpochLog(name, test_segments, test_labels)
    clf = make_classifier(name, epochs=args.epochs, random_state=args.seed, callbacks=[epoch_log])
    log(f"{name}: fitting for {args.epochs} epochs on {len(X_train)} tracks")
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start - epoch_log.eval_seconds
    assert np.array_equal(clf.classes_, classes)
    y_pred = clf.predict(X_test)
    result = {
        "kind": "network",
        **track_metrics(y_test, y_pred, genres),
        "track_accuracy_seen_genres": seen_genre_accuracy(y_test, y_pred, classes),
        "segment_accuracy": segment_accuracy(clf, X_test, y_test),
        "fit_seconds": fit_seconds,
        "predict_ms_per_track": time_predict(clf.predict, X_test),
        "n_params": int(clf.model_.count_params()),
        "epochs_run": int(clf.n_iter_),
        "history": {key: [float(v) for v in values] for key, values in clf.history_.items()},
        "test_segment_accuracy_per_epoch": epoch_log.test_accuracy,
        "epoch_seconds": epoch_log.seconds,
    }
    log(f"{name}: track acc {result['track_accuracy']:.3f}, segment acc {result['segment_accuracy']:.3f}, "
        f"fit {fit_seconds:.1f} s, {result['n_params']:,} parameters")
    return result


def run_baseline(name, estimator, data, genres, *, features=None, description=None):
    """A scikit-learn pipeline on per-track features: MFCC means and standard deviations
    unless ``features`` gives ``(train, test)`` rows of others."""
    X_train, y_train, X_test, y_test = data
    if features is None:
        F_train, F_test = track_summary_features(X_train), track_summary_features(X_test)
        description = "per-track mean and std of each MFCC over frames and segments (26 values)"
    else:
        F_train, F_test = features
    start = time.perf_counter()
    estimator.fit(F_train, y_train)
    fit_seconds = time.perf_counter() - start
    y_pred = estimator.predict(F_test)
    final = estimator[-1]
    n_params = int(final.coef_.size + final.intercept_.size) if hasattr(final, "coef_") else None
    result = {
        "kind": "baseline" if features is None else "pretrained embedding",
        "features": description,
        **track_metrics(y_test, y_pred, genres),
        "track_accuracy_seen_genres": seen_genre_accuracy(y_test, y_pred, np.unique(y_train)),
        "segment_accuracy": None,
        "fit_seconds": fit_seconds,
        "predict_ms_per_track": time_predict(estimator.predict, F_test),
        "n_params": n_params,
    }
    log(f"{name}: track acc {result['track_accuracy']:.3f}, fit {fit_seconds:.2f} s")
    return result


# ----------------------------------------------------------------------------- leak and optimisation modes

def run_leaky_cnn(X_pool, y_pool, test_fraction, honest_cnn, args):
    """The seed's protocol: a random split of *segments*, so a track's segments sit on both sides."""
    n_segments = X_pool.shape[1]
    segments = X_pool.reshape(-1, *X_pool.shape[2:])
    labels = np.repeat(y_pool, n_segments)
    track = np.repeat(np.arange(len(X_pool)), n_segments)
    present = np.flatnonzero(~np.isnan(segments[:, 0, 0]))
    train, test = train_test_split(present, test_size=test_fraction, stratify=labels[present],
                                   random_state=args.seed)
    S_train, S_test = segments[train], segments[test]
    if not args.no_scale:
        scaler = SegmentScaler().fit(S_train)
        S_train, S_test = scaler.transform(S_train), scaler.transform(S_test)
    epoch_log = EpochLog("CNN (leaky)")
    clf = make_classifier("CNN", epochs=args.epochs, random_state=args.seed, callbacks=[epoch_log])
    log(f"CNN (leaky): fitting on {len(train)} segments, testing on {len(test)} segments of the same tracks")
    start = time.perf_counter()
    clf.fit(S_train, labels[train])  # 3-D input: one segment per sample
    fit_seconds = time.perf_counter() - start
    leaky = float(clf.score(S_test, labels[test]))
    result = {
        "model": "CNN",
        "description": ("The seed's split: train_test_split on segments of all the tracks above, so "
                        "test segments come from tracks whose other segments were trained on"),
        "n_train_segments": len(train),
        "n_test_segments": len(test),
        "test_segments_whose_track_is_in_training": float(np.isin(track[test], track[train]).mean()),
        "segment_accuracy_leaky": leaky,
        "segment_accuracy_track_split": honest_cnn["segment_accuracy"],
        "track_accuracy_track_split": honest_cnn["track_accuracy"],
        "fit_seconds": fit_seconds,
    }
    log(f"CNN (leaky): segment acc {leaky:.3f} vs {honest_cnn['segment_accuracy']:.3f} on the track split")
    return result


def run_optimisation_modes(data, args, model="MLP"):
    """Full-batch GD, mini-batch GD and SGD at the same epoch budget; loss against wall-clock time."""
    X_train, y_train, X_test, y_test = data
    n_segments = int((~np.isnan(X_train[:, :, 0, 0])).sum())
    modes = []
    for label, batch_size in [("full-batch GD", "full"), ("mini-batch GD (32)", 32), ("SGD (1)", 1)]:
        epoch_log = EpochLog(f"{model} {label}")
        clf = make_classifier(model, epochs=args.opt_epochs, batch_size=batch_size,
                              random_state=args.seed, callbacks=[epoch_log])
        steps = 1 if batch_size == "full" else math.ceil(n_segments / batch_size)
        log(f"{model} {label}: {args.opt_epochs} epochs x {steps} steps")
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - start
        modes.append({
            "mode": label,
            "batch_size": batch_size,
            "steps_per_epoch": steps,
            "fit_seconds": fit_seconds,
            "epoch_seconds": epoch_log.seconds,
            "loss": [float(v) for v in clf.history_["loss"]],
            "final_train_loss": float(clf.history_["loss"][-1]),
            "final_train_accuracy": float(clf.history_["accuracy"][-1]),
            "track_accuracy": float(clf.score(X_test, y_test)),
        })
    common = min(m["epoch_seconds"][-1] for m in modes)  # the fastest mode's whole budget
    for m in modes:
        done = [loss for loss, t in zip(m["loss"], m["epoch_seconds"]) if t <= common]
        m["loss_at_common_seconds"] = done[-1] if done else None
    return {"model": model, "epochs": args.opt_epochs, "n_train_segments": n_segments,
            "common_seconds": common, "modes": modes}


# ----------------------------------------------------------------------------- figures

def plot_confusion(path, name, result, genres, split):
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ConfusionMatrixDisplay(np.array(result["confusion_matrix"]), display_labels=genres).plot(
        ax=ax, xticks_rotation=45, colorbar=False, cmap="Blues")
    ax.set_title(f"{name}: track accuracy {result['track_accuracy']:.2f} ({split['protocol']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_learning_curves(path, models):
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for (name, r), color in zip(models.items(), ["C0", "C1", "C2"]):
        epochs = np.arange(1, len(r["history"]["loss"]) + 1)
        ax_loss.plot(epochs, r["history"]["loss"], color=color, label=name)
        ax_acc.plot(epochs, r["history"]["accuracy"], color=color, label=f"{name} train segments")
        ax_acc.plot(epochs, r["test_segment_accuracy_per_epoch"], color=color, linestyle="--",
                    label=f"{name} test segments")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Training loss (history_)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Segment accuracy (test: diagnostic only)",
               ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.legend()
    ax_acc.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_optimisation_modes(path, opt):
    fig, (ax_time, ax_epoch) = plt.subplots(1, 2, figsize=(11, 4))
    for m in opt["modes"]:
        ax_time.plot(m["epoch_seconds"], m["loss"], marker=".", label=m["mode"])
        ax_epoch.plot(np.arange(1, len(m["loss"]) + 1), m["loss"], marker=".", label=m["mode"])
    ax_time.axvline(opt["common_seconds"], color="grey", linewidth=0.8, linestyle=":")
    ax_time.set(xlabel="wall-clock seconds (end of each epoch)", ylabel="training loss", yscale="log",
                title=f"{opt['model']}: training loss against time")
    ax_epoch.set(xlabel="epoch", ylabel="training loss", yscale="log",
                 title=f"{opt['model']}: training loss against epochs")
    ax_epoch.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_time.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- report

def fmt(value, pattern):
    return "n/a" if value is None else format(value, pattern)


def write_markdown(path, report):
    split, data, settings = report["split"], report["data"], report["settings"]
    lines = [
        "# Genre classifiers compared",
        "",
        f"Data: `{data['folder']}`, {data['n_tracks']} tracks "
        f"({', '.join(f'{g} {n}' for g, n in data['tracks_per_genre'].items())}). "
        "Figures from this few tracks are rough: one test track is several percent of accuracy.",
        "",
        f"Split: {split['description']}. {split['n_train']} training tracks, {split['n_test']} test tracks"
        + (f", {split['n_unused']} unused" if split["n_unused"] else "") + ".",
        "",
        f"Networks: library defaults (the seed's architectures, Adam at 1e-4, batch 32), "
        f"{settings['epochs']} epochs, random_state={settings['seed']}, "
        + ("raw MFCCs (no scaling)." if settings["no_scale"] else
           "MFCCs standardised with SegmentScaler fitted on the training tracks.")
        + f" Features: MFCCSegmenter, shape {report['features']['shape']}, "
        f"{report['features']['seconds']:.1f} s. Machine: {report['machine']['cpu_count']} CPUs, "
        f"{report['machine']['platform']}; {report['date']}.",
        "",
        "| model | track accuracy | macro-F1 | segment accuracy | fit s | predict ms/track | parameters |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in report["models"].items():
        lines.append(
            f"| {name} | {r['track_accuracy']:.3f} | {r['macro_f1']:.3f} | {fmt(r['segment_accuracy'], '.3f')} | "
            f"{r['fit_seconds']:.1f} | {r['predict_ms_per_track']:.2f} | {fmt(r['n_params'], ',')} |")
    lines += [
        "",
        "Track accuracy and macro-F1 (over the test genres) are on the test tracks; segment accuracy "
        "counts each test segment's most probable genre. Predict time is for the classifier alone on "
        "precomputed features, warm (after one untimed call), median of 3. Baselines use per-track "
        "means and standard deviations of the 13 MFCCs (26 values) with StandardScaler; "
        "\"musicnn + LogisticRegression\" uses MusicnnEmbedder's 200 values per track (the mean "
        "over its 3 s patches of musicnn's penultimate layer, pretrained on the Million Song "
        "Dataset), with StandardScaler.",
    ]
    if split["genres_not_in_train"]:
        lines += ["", "Track accuracy over the test tracks of genres that have training tracks: "
                  + ", ".join(f"{n} {fmt(r['track_accuracy_seen_genres'], '.3f')}"
                              for n, r in report["models"].items()) + "."]
    leaky = report.get("leaky")
    if leaky:
        lines += [
            "", "## Leak: the seed's segment-level split", "",
            f"{leaky['description']} ({leaky['n_train_segments']} training / {leaky['n_test_segments']} test "
            f"segments; {leaky['test_segments_whose_track_is_in_training']:.0%} of the test segments have "
            "sibling segments in training).", "",
            "| CNN evaluated on | segment accuracy |", "|---|---:|",
            f"| segments of held-out tracks (this benchmark's split) | {leaky['segment_accuracy_track_split']:.3f} |",
            f"| random segments, tracks on both sides (seed's split) | {leaky['segment_accuracy_leaky']:.3f} |",
        ]
        if split["genres_not_in_train"]:
            lines += ["", "Part of this gap is not leakage: the seed's split trains on every genre, while the "
                      f"track split has no training track of {', '.join(split['genres_not_in_train'])}."]
    opt = report["optimisation_modes"]
    lines += [
        "", f"## Optimisation modes ({opt['model']}, {opt['epochs']} epochs, {opt['n_train_segments']} "
        "training segments)", "",
        f"| mode | steps/epoch | fit s | final training loss | loss after {opt['common_seconds']:.1f} s "
        "| final training accuracy | test track accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in opt["modes"]:
        lines.append(f"| {m['mode']} | {m['steps_per_epoch']} | {m['fit_seconds']:.1f} | {m['final_train_loss']:.4f} | "
                     f"{fmt(m['loss_at_common_seconds'], '.4f')} | {m['final_train_accuracy']:.3f} | "
                     f"{m['track_accuracy']:.3f} |")
    lines += [
        "", f"\"Loss after {opt['common_seconds']:.1f} s\" is each mode's training loss at the end of the last "
        "epoch finished within the fastest mode's whole budget (fixed wall-clock comparison; n/a if none was). "
        "Epoch times include Keras' one-off graph tracing in the first epoch.",
        "", "## Figures", "",
    ]
    lines += [f"![{f}]({f})" for f in report["figures"]]
    lines += ["", f"Total run time: {report['total_seconds']:.0f} s. Command: `{report['command']}`", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None

    root, paths, genres, track_ids = load_tracks(args.data, args.max_tracks_per_genre)
    genre_names = np.unique(genres)
    train, test, split = split_tracks(track_ids, genres, args)
    log(f"{len(paths)} tracks from {root}; {split['description']}")

    log(f"extracting MFCCs of {len(paths)} tracks (n_jobs={args.n_jobs})")
    X, extract_seconds = extract_features(paths, args.n_jobs)
    log(f"features {X.shape} in {extract_seconds:.1f} s")
    X_train, X_test = X[train], X[test]
    if not args.no_scale:
        scaler = SegmentScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    data = (X_train, genres[train], X_test, genres[test])

    models, figures = {}, []
    for name in ["MLP", "CNN", "LSTM"]:
        models[name] = run_deep_model(name, data, genre_names, args)
    raw = (X[train], genres[train], X[test], genres[test])
    models["LogisticRegression"] = run_baseline(
        "LogisticRegression", make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)), raw, genre_names)
    models["SVC (RBF)"] = run_baseline("SVC (RBF)", make_pipeline(StandardScaler(), SVC()), raw, genre_names)
    log(f"embedding {len(paths)} tracks with MusicnnEmbedder (n_jobs={args.n_jobs})")
    start = time.perf_counter()
    E = MusicnnEmbedder(n_jobs=args.n_jobs).fit_transform(list(paths))
    log(f"embeddings {E.shape} in {time.perf_counter() - start:.1f} s")
    models["musicnn + LogisticRegression"] = run_baseline(
        "musicnn + LogisticRegression", make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        raw, genre_names, features=(E[train], E[test]),
        description="MusicnnEmbedder(): musicnn's penultimate layer, mean over the file's 3 s patches "
                    "(200 values)")

    leaky = None
    if args.leaky:
        pool = np.concatenate([train, test])
        # unscaled features: the leaky run fits its own scaler on its own training segments
        leaky = run_leaky_cnn(X[pool], genres[pool], len(test) / len(pool), models["CNN"], args)

    opt = run_optimisation_modes(data, args)

    for name, result in models.items():
        filename = "confusion_" + name.lower().split(" ")[0] + ".png"
        plot_confusion(os.path.join(args.out, filename), name, result, genre_names, split)
        result["figure"] = filename
        figures.append(filename)
    plot_learning_curves(os.path.join(args.out, "learning_curves.png"),
                         {n: r for n, r in models.items() if r["kind"] == "network"})
    plot_optimisation_modes(os.path.join(args.out, "optimisation_modes.png"), opt)
    figures += ["learning_curves.png", "optimisation_modes.png"]

    report = {
        "benchmark": "compare",
        "date": date,
        "command": command_line(),
        "machine": machine_info(),
        "load_average_start": load_start,
        "versions": versions(),
        "data": {"folder": recorded_path(root), "n_tracks": len(paths),
                 "tracks_per_genre": per_genre(genres),
                 "max_tracks_per_genre": args.max_tracks_per_genre},
        "split": split,
        "settings": {"epochs": args.epochs, "opt_epochs": args.opt_epochs, "seed": args.seed,
                     "no_scale": args.no_scale, "quick": args.quick, "n_jobs": args.n_jobs},
        "features": {"shape": list(X.shape), "seconds": extract_seconds},
        "models": models,
        "leaky": leaky,
        "optimisation_modes": opt,
        "figures": figures,
        "total_seconds": time.perf_counter() - START,
    }
    with open(os.path.join(args.out, "compare.json"), "w") as f:
        json.dump(report, f, indent=2)
    write_markdown(os.path.join(args.out, "compare.md"), report)
    log(f"wrote compare.json, compare.md and {len(figures)} figures to {args.out}")


if __name__ == "__main__":
    main()
