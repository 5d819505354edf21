"""Train a genre classifier on real GTZAN tracks, two ways, and classify held-out songs.

    python docs/examples/quickstart.py [--data ../shared/data/gtzan] [--epochs 30]

The pretrained path: musicnn's embedding of each track (MusicnnEmbedder), standardised,
then logistic regression.  The original course's path: MFCCSegmenter (5 segments x 130 frames x 13
MFCCs per track), SegmentScaler, and the course's CNN trained from scratch.
Split: 30% of the tracks, stratified by genre, are held out whole (all five
segments of a track are on one side).  The shipped artist-conscious lists
fit this 111-track subset badly: its "train" list has no classical track and its
"valid" list no reggae or rock.  GTZAN repeats artists, so a random track split is still
somewhat optimistic.  Prints held-out track accuracy and a few predictions.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_audio_genre import CNNGenreClassifier, MFCCSegmenter, MusicnnEmbedder, SegmentScaler
from sk_audio_genre.datasets import load_gtzan

# $SK_AUDIO_GENRE_DATA (the folder holding gtzan/), else ../shared/data beside the repo.
DEFAULT_DATA = (
    Path(os.environ.get("SK_AUDIO_GENRE_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    / "gtzan"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="GTZAN-style folder")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()

    data = load_gtzan(args.data)
    train_paths, test_paths, train_genres, test_genres = train_test_split(
        data.paths, data.genres, test_size=0.3, stratify=data.genres, random_state=0
    )
    print(f"{len(data.paths)} tracks, {len(data.target_names)} genres in {data.root}")
    print(f"training on {len(train_paths)} tracks, testing on {len(test_paths)} held-out tracks")

    models = {
        "musicnn + logistic regression (pretrained)": make_pipeline(
            MusicnnEmbedder(), StandardScaler(), LogisticRegression(max_iter=5000)
        ),
        "the course's CNN on MFCCs (from scratch)": Pipeline(
            [
                ("mfcc", MFCCSegmenter()),
                ("scale", SegmentScaler()),
                ("clf", CNNGenreClassifier(epochs=args.epochs, batch_norm=True, random_state=0)),
            ]
        ),
    }
    for name, pipe in models.items():
        start = time.perf_counter()
        pipe.fit(train_paths, train_genres)
        predicted = pipe.predict(test_paths)
        print(f"{name}: fitted in {time.perf_counter() - start:.1f} s, held-out track accuracy "
              f"{accuracy_score(test_genres, predicted):.2f}")
        for path, truth, guess in list(zip(test_paths, test_genres, predicted))[:3]:
            print(f"  {Path(path).name:22s} true {truth:10s} predicted {guess}")


if __name__ == "__main__":
    main()
