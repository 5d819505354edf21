"""Nothing in a model folder can exhaust memory or time (issue 14, item 3).

Every parameter that decides how much audio is decoded, how many frames, patches or weights
are computed, or how long training runs has a bound (``sk_audio_genre._limits``, where each
is derived).  Each bound is refused in ``fit``, in ``set_params`` (which then changes
nothing) and when a model folder rewritten consistently (digest recomputed) is loaded,
before anything is allocated; values at the bound still work.  The cases marked ``issue``
are the issue's reproductions: without the bounds they took minutes or gigabytes per file.
"""

from __future__ import annotations

import math
import shutil
import warnings

import librosa
import numpy as np
import pytest
import soundfile as sf
from sklearn.pipeline import make_pipeline

from sk_audio_genre import MFCCSegmenter, MusicnnEmbedder, SegmentScaler, load_pretrained
from sk_audio_genre._limits import (
    MAX_ENSEMBLE_MEMBERS,
    MAX_FILE_VALUES,
    MAX_OFFSET_SECONDS,
    MAX_SR,
    MAX_STFT_OVERLAP,
    MAX_WINDOW_SECONDS,
    MIN_PATCH_HOP_SECONDS,
    MIN_SR,
    min_n_fft,
)
from sk_audio_genre._musicnn import N_MELS as MUSICNN_MELS
from sk_audio_genre._musicnn import PATCH_FRAMES
from sk_audio_genre.embedder import n_patches_for
from sk_audio_genre.model_format import load_pipeline, save_pipeline
from sk_audio_genre.pretrained import pretrained_dir
from sk_audio_genre.segmenter import N_MELS

from conftest import SMALL_SEGMENTER, tone
from test_model_format import rewrite, step

# --------------------------------------------------------------------------- audio readers

#: (reader, parameters, what the refusal says); ``json=False``: not writable in JSON.
READER_CASES = [
    pytest.param(MFCCSegmenter, {"n_segments": 100_000}, "'n_segments' parameter .* 32768",
                 id="issue-n_segments=100000"),
    pytest.param(MFCCSegmenter, {"n_segments": 10**9}, "'n_segments' parameter",
                 id="issue-n_segments=10**9"),
    pytest.param(MFCCSegmenter, {"sr": 10**400}, r"'sr' parameter .* \[1000, 48000\]",
                 id="issue-sr=10**400"),
    pytest.param(MFCCSegmenter, {"sr": 48_001}, "'sr' parameter .* ultrasound", id="sr-high"),
    pytest.param(MFCCSegmenter, {"sr": 999}, "'sr' parameter", id="sr-low"),
    pytest.param(MFCCSegmenter, {"hop_length": 1}, "covers each sample with 2.05e.03 frames, "
                 "more than 8.*hop_length >= 256", id="issue-hop_length=1"),
    pytest.param(MFCCSegmenter, {"hop_length": 2049}, "longer than n_fft=2048", id="hop-over-n_fft"),
    pytest.param(MFCCSegmenter, {"n_fft": 427, "hop_length": 256},
                 "n_fft=427 at sr=22050 leaves bands .* empty.*n_fft >= 428", id="n_fft-low"),
    pytest.param(MFCCSegmenter, {"n_fft": 2**16 + 1}, "'n_fft' parameter .* 65536",
                 id="n_fft-high"),
    pytest.param(MFCCSegmenter, {"offset": 1e308}, "'offset' parameter .* 604800",
                 id="offset=1e308"),
    pytest.param(MFCCSegmenter, {"offset": math.inf}, "'offset' parameter .*one week",
                 id="offset=inf"),
    pytest.param(MFCCSegmenter, {"segment_duration": 600.001}, "'segment_duration' parameter",
                 id="segment_duration"),
    pytest.param(MFCCSegmenter, {"n_segments": 201, "segment_duration": 3.0},
                 "analyse 603 s of each file, more than 600 s", id="window"),
    pytest.param(MFCCSegmenter, {"n_segments": 100, "segment_duration": 6.0, "hop_length": 256},
                 "mel spectrogram of 6,617,600 values per file, more than 4,194,304",
                 id="spectrogram"),
    pytest.param(MusicnnEmbedder, {"pooling": "none", "duration": 1e7},
                 r"'duration' parameter .* \(0.0, 600.0\]", id="issue-duration=1e7"),
    pytest.param(MusicnnEmbedder, {"patch_hop": 1e-9}, r"'patch_hop' parameter .* \[0.5, 600",
                 id="issue-patch_hop=1e-9"),
    pytest.param(MusicnnEmbedder, {"patch_hop": 600.5}, "'patch_hop' parameter",
                 id="patch_hop-high"),
    pytest.param(MusicnnEmbedder, {"offset": 1e308}, "'offset' parameter", id="musicnn-offset"),
    pytest.param(MusicnnEmbedder, {"duration": math.inf}, "'duration' parameter .*ten minutes",
                 id="musicnn-duration=inf"),
    pytest.param(MusicnnEmbedder, {"duration": 600.0, "patch_hop": 0.5},
                 "gives 1204 patches of 187 x 96 log-mel values per file, more than 4,194,304",
                 id="patches"),
]


def in_json(params: dict) -> bool:
    return all(math.isfinite(v) for v in params.values() if isinstance(v, float))


@pytest.mark.parametrize(("reader", "params", "message"), READER_CASES)
def test_reader_bounds_are_refused_in_fit(reader, params, message):
    with pytest.raises(ValueError, match=message):
        reader(**params).fit(["never-read.wav"])


@pytest.mark.parametrize(("reader", "params", "message"), READER_CASES)
def test_reader_bounds_are_refused_in_set_params_which_changes_nothing(reader, params, message):
    estimator = reader()
    before = estimator.get_params()
    with pytest.raises(ValueError, match=message):
        estimator.set_params(**params)
    assert estimator.get_params() == before


@pytest.fixture
def shipped_copy(tmp_path):
    """A copy of the shipped model's folder, to be rewritten consistently."""
    return shutil.copytree(pretrained_dir(), tmp_path / "model")


#: Where each reader's parameters are in the shipped model's pipeline.json.
SHIPPED_READERS = {MusicnnEmbedder: (0, "musicnn"), MFCCSegmenter: (0, "mfcc", 0)}


@pytest.mark.parametrize(("reader", "params", "message"), READER_CASES)
def test_reader_bounds_are_refused_when_a_rewritten_folder_loads(reader, params, message,
                                                                  shipped_copy):
    if not in_json(params):
        pytest.skip("not a JSON value; the model format refuses it as malformed JSON")
    node = lambda document: step(document, *SHIPPED_READERS[reader])["params"]  # noqa: E731
    rewrite(shipped_copy, lambda document: node(document).update(params))
    with pytest.raises(ValueError, match=message):
        load_pipeline(shipped_copy)


def test_the_shipped_model_refuses_pooling_none_over_ten_million_seconds():
    """The issue's reproduction: 2.9 GB of features per batch before."""
    model = load_pretrained()
    before = model.get_params(deep=True)
    with pytest.raises(ValueError, match="'duration' parameter of MusicnnEmbedder"):
        model.set_params(features__musicnn__pooling="none", features__musicnn__duration=1e7)
    assert model.get_params(deep=True)["features__musicnn__duration"] == 29.92
    assert model.get_params(deep=True).keys() == before.keys()


# --------------------------------------------------------------------------- at the bounds


def test_the_smallest_n_fft_leaves_no_mel_band_empty():
    for sr in (1000, 8000, 22050, 44100, 48000):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # librosa warns "Empty filters detected"
            librosa.filters.mel(sr=sr, n_fft=min_n_fft(sr, N_MELS))
        with pytest.warns(UserWarning, match="Empty filters"):
            librosa.filters.mel(sr=sr, n_fft=int(0.9 * min_n_fft(sr, N_MELS)))


def test_n_fft_and_overlap_bound_the_frame_rate_below_a_thousand_per_second():
    """So no separate frame-rate bound is needed: fewer than 510 frames/s at any rate."""
    rates = [MAX_STFT_OVERLAP * sr / min_n_fft(sr, N_MELS) for sr in range(MIN_SR, MAX_SR + 1)]
    assert max(rates) < 510


def test_mfccs_at_the_bounds_of_sr_n_fft_and_overlap_are_computed(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, tone(3.0, freq=200.0, noise=0.1), 22050)
    n_fft = min_n_fft(1000, N_MELS)
    lowest = MFCCSegmenter(sr=1000, n_segments=2, segment_duration=1.0, n_fft=n_fft,
                           hop_length=math.ceil(n_fft / 8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = lowest.fit_transform([path])
    assert not [w for w in caught if "Empty filters" in str(w.message)]
    assert X.shape == (1, 2, 1 + 1000 // 17, 13) and np.isfinite(X).all()
    high = tmp_path / "high.wav"
    sf.write(high, tone(1.0, freq=20000.0, noise=0.1, sr=48000), 48000)
    highest = MFCCSegmenter(sr=48000, n_segments=1, segment_duration=1.0, n_fft=2048,
                            hop_length=2048)  # no overlap: hop_length == n_fft
    assert np.isfinite(highest.fit_transform([high])).all()


def test_the_largest_windows_and_spectrograms_are_accepted():
    MFCCSegmenter(n_segments=200, segment_duration=3.0).fit(["x.wav"])  # 600 s
    # 16,384 segments of 2 frames of 128 bands: exactly MAX_FILE_VALUES
    at_bound = dict(n_segments=MAX_FILE_VALUES // (2 * N_MELS), segment_duration=512 / 22050,
                    n_fft=512, hop_length=512)
    assert MFCCSegmenter(**at_bound).fit(["x.wav"]).feature_shape_ == (16384, 2, 13)
    with pytest.raises(ValueError, match="more than 4,194,304"):
        MFCCSegmenter(**{**at_bound, "n_segments": 16385}).fit(["x.wav"])
    MusicnnEmbedder(duration=MAX_WINDOW_SECONDS).fit(["x.wav"])  # 200 patches
    most = MAX_FILE_VALUES // (PATCH_FRAMES * MUSICNN_MELS)
    samples = int(MAX_WINDOW_SECONDS * 16000)
    hop = next(h for h in range(1, 188) if n_patches_for(samples, h) <= most)
    assert n_patches_for(samples, hop) == most - 1 and n_patches_for(samples, hop - 1) > most
    MusicnnEmbedder(duration=MAX_WINDOW_SECONDS, patch_hop=hop / 62.5).fit(["x.wav"])
    with pytest.raises(ValueError, match="patches of 187 x 96"):
        MusicnnEmbedder(duration=MAX_WINDOW_SECONDS, patch_hop=(hop - 1) / 62.5).fit(["x.wav"])


def test_the_shortest_patch_hop_and_the_latest_offset_work(tmp_path):
    path = tmp_path / "noise.wav"
    sf.write(path, tone(4.0, noise=0.1, sr=16000), 16000)
    X = MusicnnEmbedder(pooling="none", patch_hop=MIN_PATCH_HOP_SECONDS).fit_transform([path])
    assert X.shape == (1, 3, 1, 200) and np.isfinite(X).all()  # patches at 0, 31 and 62 frames
    late = MFCCSegmenter(**SMALL_SEGMENTER, offset=MAX_OFFSET_SECONDS, on_error="nan")
    with pytest.warns(UserWarning, match="after offset=604800.0"):
        assert np.isnan(late.fit_transform([path])).all()


# --------------------------------------------------------------------------- networks


def network(name: str, **params):
    from sk_audio_genre import classifiers

    tiny = {"MLPGenreClassifier": dict(hidden_layer_sizes=(8,)),
            "CNNGenreClassifier": dict(filters=(2, 2, 2), dense_units=4, conv_padding="same"),
            "LSTMGenreClassifier": dict(lstm_units=(4,), dense_units=4)}[name]
    return getattr(classifiers, name)(**{**tiny, "epochs": 1, "random_state": 0, **params})


#: (classifier, parameters, what the refusal says, whether set_params of an unfitted
#: classifier can tell: the weights bound needs the input and the classes).
NETWORK_CASES = [
    pytest.param("MLPGenreClassifier", {"hidden_layer_sizes": (10**6,)},
                 r"hidden_layer_sizes must be 0 to 16 ints in \[1, 4096\]", True, id="units"),
    pytest.param("MLPGenreClassifier", {"hidden_layer_sizes": (8,) * 17},
                 "hidden_layer_sizes must be 0 to 16 ints", True, id="layers"),
    pytest.param("MLPGenreClassifier", {"hidden_layer_sizes": (4096,) * 4},
                 r"\(16, 13\) with 3 classes has 51,\d{3},\d{3} weights, more than 50,000,000",
                 False, id="mlp-weights"),
    pytest.param("CNNGenreClassifier", {"filters": (4097, 2, 2)},
                 "filters must be 3 ints", True, id="filters"),
    pytest.param("CNNGenreClassifier", {"filters": (2, 2)}, "filters must be 3 ints", True,
                 id="filters-count"),
    pytest.param("CNNGenreClassifier", {"dense_units": 4097}, "'dense_units' parameter", True,
                 id="dense_units"),
    pytest.param("CNNGenreClassifier", {"filters": (4096, 4096, 4096)},
                 "more than 50,000,000", False, id="cnn-weights"),
    pytest.param("LSTMGenreClassifier", {"lstm_units": ()}, "lstm_units must be 1 to 16 ints",
                 True, id="no-lstm"),
    pytest.param("LSTMGenreClassifier", {"lstm_units": (4096, 4096)}, "more than 50,000,000",
                 False, id="lstm-weights"),
    pytest.param("MLPGenreClassifier", {"epochs": 10**9}, r"'epochs' parameter .* 10000\]",
                 True, id="epochs"),
    pytest.param("MLPGenreClassifier", {"batch_size": 2**20 + 1}, "'batch_size' parameter",
                 True, id="batch_size"),
    pytest.param("MLPGenreClassifier", {"n_iter_no_change": 10_001},
                 "'n_iter_no_change' parameter", True, id="n_iter_no_change"),
    pytest.param("MLPGenreClassifier", {"segment_window": (9, 1)},
                 r"segment_window=\(9, 1\) puts each frame into about 9 windows, more than 8",
                 True, id="window-overlap"),
    pytest.param("MLPGenreClassifier", {"segment_window": (10**400, 1)},
                 "segment_window must be None or", True, id="window-frames"),
]


@pytest.fixture(scope="module")
def tracks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2, 16, 13)).astype(np.float32)
    return X, np.array(["blues", "jazz", "metal"] * 2)


@pytest.fixture(scope="module")
def saved_networks(tone_files, tmp_path_factory):
    """Each tiny network after MFCCSegmenter and SegmentScaler, fitted on tones and saved."""
    folders = {}
    for name in ("MLPGenreClassifier", "CNNGenreClassifier", "LSTMGenreClassifier"):
        pipe = make_pipeline(MFCCSegmenter(**SMALL_SEGMENTER), SegmentScaler(), network(name))
        folders[name] = save_pipeline(pipe.fit(*tone_files), tmp_path_factory.mktemp(name))
    return folders


@pytest.mark.parametrize(("name", "params", "message", "unfitted"), NETWORK_CASES)
def test_network_bounds_are_refused_in_fit_before_anything_is_built(name, params, message,
                                                                     unfitted, tracks,
                                                                     monkeypatch):
    built = []
    monkeypatch.setattr(type(network(name)), "_build_network", lambda *a: built.append(a))
    with pytest.raises(ValueError, match=message):
        network(name, **params).fit(*tracks)
    assert built == []


@pytest.mark.parametrize(("name", "params", "message", "unfitted"), NETWORK_CASES)
def test_network_bounds_are_refused_in_set_params_which_changes_nothing(name, params, message,
                                                                        unfitted,
                                                                        saved_networks):
    classifier = load_pipeline(saved_networks[name])[-1]  # fitted on (16, 13) and 3 genres
    targets = [classifier, network(name)] if unfitted else [classifier]
    for estimator in targets:
        before = estimator.get_params()
        with pytest.raises(ValueError, match=message):
            estimator.set_params(**params)
        assert estimator.get_params().keys() == before.keys()
        assert all(estimator.get_params()[k] is v for k, v in before.items())


@pytest.mark.parametrize(("name", "params", "message", "unfitted"), NETWORK_CASES)
def test_network_bounds_are_refused_when_a_rewritten_folder_loads(name, params, message,
                                                                   unfitted, saved_networks,
                                                                   tmp_path):
    folder = shutil.copytree(saved_networks[name], tmp_path / "model")
    listed = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    rewrite(folder, lambda document: step(document, 2)["params"].update(listed))
    with pytest.raises(ValueError, match=message):
        load_pipeline(folder)


@pytest.mark.parametrize(("state", "message"), [
    ({"segment_shape_": [10**7, 13]}, r"segments of \(10000000, 13\) hold more than 4,194,304"),
    ({"segment_shape_": [4096, 1024], "classes_": [f"genre{i:02d}" for i in range(12)]},
     "one segment of .* per class; 12 classes make that more than 50,000,000 values"),
])  # fmt: skip
def test_saved_segment_shapes_are_bounded_before_anything_is_built(state, message,
                                                                   saved_networks, tmp_path):
    """An LSTM's weights do not depend on the frames: only the bound stops a huge input."""
    folder = shutil.copytree(saved_networks["LSTMGenreClassifier"], tmp_path / "model")
    rewrite(folder, lambda document: step(document, 2)["state"].update(state))
    with pytest.raises(ValueError, match=message):
        load_pipeline(folder)


def test_networks_at_the_bounds_are_accepted(saved_networks, tracks):
    classifier = load_pipeline(saved_networks["MLPGenreClassifier"])[-1]
    classifier.set_params(hidden_layer_sizes=(4096,) * 3)  # 34.4 million weights on (16, 13)
    classifier.set_params(epochs=10_000, n_iter_no_change=10_000, batch_size=2**20,
                          segment_window=(8, 1))
    network("MLPGenreClassifier", hidden_layer_sizes=(1,) * 16, segment_window=(8, 1)).fit(*tracks)


def test_seed_ensemble_is_bounded():
    from sk_audio_genre.ensemble import seeded_ensemble as seed_ensemble

    assert len(seed_ensemble(network("MLPGenreClassifier"), MAX_ENSEMBLE_MEMBERS).estimators) == 100
    with pytest.raises(ValueError, match="n_members must be a positive int, at most 100"):
        seed_ensemble(network("MLPGenreClassifier"), MAX_ENSEMBLE_MEMBERS + 1)
