"""Do the shipped model's probabilities mean what they say?  Calibration under cross-validation.

The recipe of the shipped model (``sk_audio_genre.recipes.musicnn_recipe``) is
cross-validated by track (``--repeats`` x stratified 5-fold over the 77 training tracks, on
features computed once: the feature steps learn nothing).  Every track gets out-of-fold
probabilities in each repeat; from them:

* the **reliability diagram** of the top label: tracks grouped by the probability the model
  gave its chosen genre, against how often that genre was right (scikit-learn's
  ``CalibrationDisplay`` on "was the top genre right" against the top probability);
* the **expected calibration error** (ECE, 15 equal-width bins), and what ECE a perfectly
  calibrated model with the same confidences would show on this few tracks by chance alone
  (the correct/incorrect outcomes redrawn 2,000 times as coin flips with the stated
  probabilities): an ECE inside that range is not evidence of miscalibration;
* log loss and the Brier score, against the MFCC-statistics baseline.

    python benchmarks/calibration.py --data ../shared/data/gtzan --out results/

Writes ``calibration.json``, ``calibration.md`` and ``calibration.png``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.metrics import log_loss
from sklearn.model_selection import RepeatedStratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _calibration import N_BINS, expected_calibration_error, top_label  # noqa: E402
from _features import recipe_features  # noqa: E402
from _report import command_line, machine_info, versions  # noqa: E402

from sk_audio_genre.datasets import fault_filtered_split, load_gtzan  # noqa: E402
from sk_audio_genre.recipes import musicnn_recipe  # noqa: E402

SEED = 0


def out_of_fold(X, y, repeats: int) -> np.ndarray:
    """``(repeats, n_tracks, n_classes)`` probabilities, each from a model that never saw it."""
    head = musicnn_recipe()[1:]
    classes = np.unique(y)
    proba = np.zeros((repeats, len(y), len(classes)))
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=SEED)
    for fold, (train, test) in enumerate(cv.split(X, y)):
        model = clone(head).fit(X[train], y[train])
        proba[fold // 5][test] = model.predict_proba(X[test])
    return proba


def chance_ece(confidence: np.ndarray, rng: np.random.Generator, draws: int = 2000) -> np.ndarray:
    """ECEs of a perfectly calibrated model with these confidences: outcomes as coin flips."""
    values = []
    for _ in range(draws):
        correct = rng.random(confidence.shape) < confidence
        proba = np.column_stack([confidence, 1 - confidence])
        values.append(expected_calibration_error(np.where(correct, 0, 1), proba))
    return np.asarray(values)


def brier(y_index: np.ndarray, proba: np.ndarray) -> float:
    onehot = np.eye(proba.shape[1])[y_index]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/gtzan")
    parser.add_argument("--cache", default="results/cache")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    start = time.perf_counter()
    data = load_gtzan(args.data)
    keep = ~fault_filtered_split(data.track_ids).test
    features = {k: v[keep] for k, v in recipe_features(data, args.cache).items()}
    y = np.asarray(data.genres)[keep]
    y_index = np.searchsorted(np.unique(y), y)
    rng = np.random.default_rng(SEED)

    summary = {}
    for name in ("recipe", "baseline"):
        proba = out_of_fold(features[name], y, args.repeats)
        confidence, correct = top_label(np.tile(y_index, args.repeats), proba.reshape(-1, proba.shape[2]))
        eces = [expected_calibration_error(y_index, p) for p in proba]
        chance = np.concatenate([chance_ece(p.max(axis=1), rng, 200) for p in proba])
        summary[name] = {
            "accuracy": float(correct.mean()),
            "mean_confidence": float(confidence.mean()),
            "ece": float(np.mean(eces)), "ece_per_repeat": eces,
            "ece_if_calibrated_mean": float(chance.mean()),
            "ece_if_calibrated_95": float(np.quantile(chance, 0.95)),
            "log_loss": float(np.mean([log_loss(y, p, labels=np.unique(y)) for p in proba])),
            "brier": float(np.mean([brier(y_index, p) for p in proba])),
        }
        if name == "recipe":
            recipe_confidence, recipe_correct = confidence, correct

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    CalibrationDisplay.from_predictions(recipe_correct, recipe_confidence, n_bins=10,
                                        strategy="quantile", ax=left, name="shipped recipe")
    left.set_xlabel("probability of the top genre (out of fold)")
    left.set_ylabel("fraction of tracks where it was right")
    left.set_title("Reliability of the top genre")
    right.hist(recipe_confidence[recipe_correct], bins=20, range=(0, 1), alpha=0.7, label="right")
    right.hist(recipe_confidence[~recipe_correct], bins=20, range=(0, 1), alpha=0.7,
               label="wrong")
    right.set_xlabel("probability of the top genre")
    right.set_ylabel("tracks x repeats")
    right.legend()
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "calibration.png", dpi=100)
    plt.close(fig)

    report = {
        "benchmark": "calibration",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(), "machine": machine_info(),
        "versions": versions(), "n_tracks": int(keep.sum()), "repeats": args.repeats,
        "n_bins": N_BINS, "summary": summary, "total_seconds": time.perf_counter() - start,
    }
    (out / "calibration.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["| model | accuracy | mean top probability | ECE | ECE of a calibrated model "
             "(mean, 95th percentile) | log loss | Brier |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, label in (("recipe", "shipped recipe (musicnn + MFCC statistics + LR)"),
                        ("baseline", "MFCC statistics + LR")):
        s = summary[name]
        lines.append(f"| {label} | {s['accuracy']:.3f} | {s['mean_confidence']:.3f} | "
                     f"{s['ece']:.3f} | {s['ece_if_calibrated_mean']:.3f}, "
                     f"{s['ece_if_calibrated_95']:.3f} | {s['log_loss']:.3f} | {s['brier']:.3f} |")
    lines += ["", f"{int(keep.sum())} tracks, {args.repeats} x stratified 5-fold CV, out-of-fold "
              f"probabilities; ECE with {N_BINS} equal-width bins, averaged over repeats. "
              f"Run: `{report['command']}`, {report['date']}.", "",
              "![reliability diagram](calibration.png)", ""]
    (out / "calibration.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
