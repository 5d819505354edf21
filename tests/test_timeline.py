"""Genre timelines: the model's probabilities window by window, through a song that changes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sk_audio_genre import load_pretrained
from sk_audio_genre.timeline import (
    GenreTimeline,
    GenreTimelineDisplay,
    analysis_unit,
    genre_timeline,
)

GTZAN = np.array(["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
                  "reggae", "rock"])


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


def test_the_display_draws_the_genres_of_the_medley(medley):
    import matplotlib

    matplotlib.use("Agg")
    display = GenreTimelineDisplay.from_model(load_pretrained(), medley, top=2)
    assert set(legend(display)[:2]) == {"classical", "metal"} and legend(display)[2] == "other"
    assert display.ax_.get_xlim() == pytest.approx((0.0, 8 * 2.992))


@pytest.fixture
def varied():
    """A 5-minute medley's timeline: each of the ten genres leads for 30 s in turn."""
    import matplotlib

    matplotlib.use("Agg")
    starts = 2.992 * np.arange(100)
    proba = np.full((100, 10), 0.02)
    proba[np.arange(100), np.arange(100) // 10] = 0.82
    return GenreTimeline("medley.wav", starts, 2.992, proba, GTZAN)


def legend(display) -> list[str]:
    return [t.get_text() for t in display.ax_.get_legend().get_texts()]


def band_colours(display) -> list[tuple]:
    return [tuple(c.get_facecolor()[0]) for c in display.ax_.collections]


def test_by_default_every_genre_has_its_own_colour(varied):
    display = GenreTimelineDisplay(varied).plot()
    assert sorted(legend(display)) == sorted(GTZAN)  # no "other" hiding half the song
    assert len(set(band_colours(display))) == 10


def test_the_user_chooses_how_many_genres_or_which(varied):
    display = GenreTimelineDisplay(varied).plot(top=3)
    assert len(legend(display)) == 4 and legend(display)[-1] == "other"
    assert len(set(band_colours(display))) == 4
    display = GenreTimelineDisplay(varied).plot(genres=["metal", "jazz"])
    assert legend(display) == ["metal", "jazz", "other"]
    with pytest.raises(ValueError, match=r"'polka' is not one of the model's genres \(blues, "):
        GenreTimelineDisplay(varied).plot(genres=["metal", "polka"])
    with pytest.raises(ValueError, match="top or genres, not both"):
        GenreTimelineDisplay(varied).plot(top=2, genres=["metal"])
    with pytest.raises(ValueError, match="top must be 1 or more, got 0"):
        GenreTimelineDisplay(varied).plot(top=0)


def test_more_genres_than_colours_keep_the_likeliest(varied):
    many = GenreTimeline("m.wav", varied.starts, 2.992, np.tile(varied.proba, 3) / 3,
                         np.array([f"{g}{k}" for k in range(3) for g in GTZAN]))
    display = GenreTimelineDisplay(many).plot()
    assert len(legend(display)) == 20 and legend(display)[-1] == "other"
    assert len(set(band_colours(display))) == 20
