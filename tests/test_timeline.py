"""Genre timelines: the model's probabilities window by window, through a song that changes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sk_audio_genre import load_pretrained
from sk_audio_genre.timeline import GenreTimelineDisplay, analysis_unit, genre_timeline


@pytest.fixture(scope="module")
def medley(gtzan_root, tmp_path_factory):
    """12 s of a classical track, then 12 s of a metal track."""
    first, sr = sf.read(next((gtzan_root / "classical").glob("classical.00001.*")))
    second, _ = sf.read(next((gtzan_root / "metal").glob("metal.00000.*")))
    path = tmp_path_factory.mktemp("medley") / "medley.wav"
    sf.write(path, np.concatenate([first[: 12 * sr], second[: 12 * sr]]), sr)
    return str(path)


def test_the_timeline_follows_the_music(medley):
    model = load_pretrained()
    timeline = genre_timeline(model, medley)
    assert timeline.window == pytest.approx(2.992)
    np.testing.assert_allclose(timeline.starts, 2.992 * np.arange(8))
    top = timeline.classes[timeline.proba.argmax(axis=1)]
    assert list(top[:3]) == ["classical"] * 3 and list(top[-3:]) == ["metal"] * 3
    overlapping = genre_timeline(model, medley, hop=1.496)
    assert len(overlapping.starts) == 15


def test_a_window_is_the_models_unit_of_analysis():
    from sk_audio_genre.recipes import network_recipe

    assert analysis_unit(load_pretrained()) == pytest.approx(2.992)
    assert analysis_unit(network_recipe("cnn")) == 6.0  # one MFCC segment


def test_the_display_draws_the_top_genres(medley):
    import matplotlib

    matplotlib.use("Agg")
    display = GenreTimelineDisplay.from_model(load_pretrained(), medley)
    labels = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert labels[-1] == "other" and {"classical", "metal"} <= set(labels)
    assert display.ax_.get_xlim() == pytest.approx((0.0, 8 * 2.992))
