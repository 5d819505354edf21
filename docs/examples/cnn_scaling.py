"""The CNN on raw and on standardised MFCCs, with and without batch normalisation.

    python docs/examples/cnn_scaling.py [--data ../shared/data/gtzan] [--seeds 0 1 2]

Produces the table in the user guide's "Standardise the MFCCs" section
(docs/models.rst).  For each seed, 30% of the tracks are held out whole
(stratified by genre); the default CNN is trained for 30 epochs on

* raw MFCCs,
* MFCCs standardised by SegmentScaler (fitted on the training tracks),
* standardised MFCCs with batch_norm=True,
* standardised MFCCs with learning_rate=1e-3,

and its final training loss and held-out track accuracy are printed.  On a
small folder (the 78-track development subset of GTZAN) one test track is
several points of accuracy: read the training loss, not the ranking of
accuracies.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from sk_audio_genre import CNNGenreClassifier, MFCCSegmenter, SegmentScaler
from sk_audio_genre.datasets import load_gtzan

# $SK_AUDIO_GENRE_DATA (the folder holding gtzan/), else ../shared/data beside the repo.
DEFAULT_DATA = (
    Path(os.environ.get("SK_AUDIO_GENRE_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    / "gtzan"
)

SETTINGS = {
    "raw MFCCs": (False, {}),
    "SegmentScaler": (True, {}),
    "SegmentScaler + batch_norm=True": (True, {"batch_norm": True}),
    "SegmentScaler + learning_rate=1e-3": (True, {"learning_rate": 1e-3}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="GTZAN-style folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()

    data = load_gtzan(args.data)
    X = MFCCSegmenter(n_jobs=-1).fit_transform(data.paths)
    y = data.genres
    results: dict[str, list[tuple[float, int, int]]] = {name: [] for name in SETTINGS}
    for seed in args.seeds:
        train, test = train_test_split(
            np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed
        )
        scaler = SegmentScaler().fit(X[train])
        for name, (scale, params) in SETTINGS.items():
            X_train, X_test = X[train], X[test]
            if scale:
                X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
            clf = CNNGenreClassifier(epochs=args.epochs, random_state=seed, **params)
            clf.fit(X_train, y[train])
            correct = int(np.sum(clf.predict(X_test) == y[test]))
            results[name].append((clf.history_["loss"][-1], correct, len(test)))
            print(f"seed {seed}  {name:<36} training loss {clf.history_['loss'][-1]:.3f}  "
                  f"test tracks right {correct}/{len(test)}", flush=True)

    print(f"\n{len(y)} tracks from {data.root}; seeds {args.seeds}, {args.epochs} epochs")
    print(f"{'input and settings':<36} {'final training loss':<22} test tracks right")
    for name, runs in results.items():
        losses = ", ".join(f"{loss:.2f}" for loss, _, _ in runs)
        right = ", ".join(f"{c}/{n}" for _, c, n in runs)
        print(f"{name:<36} {losses:<22} {right}")


if __name__ == "__main__":
    main()
