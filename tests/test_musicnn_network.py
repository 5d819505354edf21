"""The musicnn port: converted weights, the NumPy network, and musicnn's preprocessing.

Three independent references:

* the checkpoint itself (``SOURCE.json`` records each variable's SHA-256 as read from it;
  with the wheel at hand, ``tools/convert_musicnn.py --check`` compares array by array);
* ``tools/musicnn_reference.py``, a line-by-line ``tf.nn`` transcription of musicnn's
  ``models.py``;
* musicnn 0.1.0's own code, run under ``tf_keras`` (``tools/run_original_musicnn.py``):
  its outputs on real GTZAN tracks are stored in ``tests/data/musicnn_original.npz``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sk_audio_genre._musicnn import (
    LAYER_SIZES,
    MSD_TAGS,
    WEIGHTS_FILE,
    MusicnnNetwork,
    load_weights,
    weights_dir,
)
from sk_audio_genre.embedder import PatchSpec, cut_patches, log_mel, n_patches_for

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
WHEEL_ENV = "SK_AUDIO_GENRE_MUSICNN_WHEEL"
ORIGINAL = Path(__file__).resolve().parent / "data" / "musicnn_original.npz"
LAYERS = tuple(LAYER_SIZES)


@pytest.fixture(scope="module")
def weights():
    return load_weights()


@pytest.fixture(scope="module")
def network(weights):
    return MusicnnNetwork(weights)


def wheel_path() -> Path:
    """The musicnn 0.1.0 wheel, for the tests that read the original checkpoint."""
    path = Path(os.environ.get(WHEEL_ENV, REPO / ".whl" / "musicnn-0.1.0-py3-none-any.whl"))
    if not path.is_file():
        pytest.skip(f"musicnn's wheel not found at {path} (pip download musicnn==0.1.0 "
                    f"--no-deps -d .whl/, or set {WHEEL_ENV}); the shipped arrays are still "
                    "checked against the digests recorded from it")
    return path


# --------------------------------------------------------------------------- weights


def test_shipped_arrays_are_the_recorded_checkpoint_variables(weights):
    source = json.loads((weights_dir() / "SOURCE.json").read_text())
    recorded = {v["name"]: v for v in source["variables"]}
    assert set(recorded) == set(weights)
    assert len(weights) == 64 and sum(w.size for w in weights.values()) == 792_079
    for name, value in weights.items():
        assert list(value.shape) == recorded[name]["shape"], name
        assert hashlib.sha256(value.tobytes()).hexdigest() == recorded[name]["sha256"], name
    assert not any("Adam" in name for name in weights)  # no optimizer slots shipped


def test_licence_and_conversion_script_ship_beside_the_weights():
    folder = weights_dir()
    licence = (folder / "LICENSE.md").read_text()
    assert "Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019" in licence
    assert "Permission to use, copy, modify, and/or distribute" in licence
    assert (REPO / "tools" / "convert_musicnn.py").is_file()
    assert (folder / WEIGHTS_FILE).stat().st_size < 4_000_000


def test_converted_weights_equal_the_checkpoint_exactly(tmp_path):
    wheel = wheel_path()
    pytest.importorskip("tensorflow")  # convert_musicnn reads the checkpoint with it
    from convert_musicnn import read_checkpoint

    variables, _, _ = read_checkpoint(wheel)
    shipped = load_weights()
    assert set(variables) == set(shipped)
    for name, value in variables.items():
        assert value.dtype == shipped[name].dtype and np.array_equal(value, shipped[name]), name
    # and the script reproduces the shipped files from the wheel
    subprocess.run([sys.executable, str(REPO / "tools" / "convert_musicnn.py"), str(wheel),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    regenerated = load_weights(tmp_path / WEIGHTS_FILE, sha256=None)
    assert all(np.array_equal(regenerated[k], shipped[k]) for k in shipped)


def test_a_changed_weights_file_is_refused(tmp_path):
    data = bytearray((weights_dir() / WEIGHTS_FILE).read_bytes())
    data[-200] ^= 0x01
    (tmp_path / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        load_weights(tmp_path / WEIGHTS_FILE)


# --------------------------------------------------------------------------- network


def random_patches(n: int, seed: int = 0) -> np.ndarray:
    """Log-mel-like patches: values in musicnn's range, with some loud bins."""
    rng = np.random.default_rng(seed)
    return (rng.gamma(2.0, 0.8, size=(n, 187, 96))).astype(np.float32)


def test_forward_equals_the_tf_nn_transcription_of_musicnn(network, weights):
    """Equal within float32 rounding, measured relative to each layer's range.

    Rounding errors of sums of large terms land on small outputs too, so the tolerance scales
    with the layer's largest value (like the dead-filter test below), not with each value.
    Measured largest difference / layer's largest value, over the 4 layers, on an AMD EPYC
    (AVX2): 1.2e-6 by default; 1.0e-6 to 2.3e-6 under ``ONEDNN_MAX_CPU_ISA=AVX`` or ``SSE41``,
    ``TF_ENABLE_ONEDNN_OPTS=0``, ``OPENBLAS_CORETYPE=Sandybridge|Nehalem``,
    ``NPY_DISABLE_CPU_FEATURES=X86_V3`` and 1 or 8 BLAS threads (max_pool, range 144).  The
    former ``rtol=1e-5, atol=1e-4`` used 99% of itself by default and failed under
    ``ONEDNN_MAX_CPU_ISA=AVX``.  1e-5 of the range leaves 4x; a weight off by 0.1% fails.
    """
    reference = pytest.importorskip("musicnn_reference")
    x = random_patches(6)
    expected = reference.forward(weights, x)
    got = network.forward(x, LAYERS)
    for layer in LAYERS:
        scale = np.abs(expected[layer]).max()
        np.testing.assert_allclose(got[layer], expected[layer], rtol=0, atol=1e-5 * scale,
                                   err_msg=layer)
        assert got[layer].dtype == np.float32 and got[layer].shape == (6, LAYER_SIZES[layer])


def test_forward_is_the_same_patch_by_patch_and_in_blocks(network):
    """Equal within the rounding of matrix products of other shapes (relative to the range).

    Measured largest difference / largest value: 4.1e-7 to 6.1e-7 (AMD EPYC, AVX2: default,
    ``OPENBLAS_CORETYPE=Sandybridge`` with ``NPY_DISABLE_CPU_FEATURES=X86_V3``, one thread);
    the former ``rtol=1e-6, atol=1e-5`` used 41% of itself.  1e-5 of the range leaves 16x.
    """
    x = random_patches(9, seed=1)
    together = network.forward(x, ("penultimate",))["penultimate"]
    alone = np.concatenate([network.forward(x[i : i + 1])["penultimate"] for i in range(9)])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5 * np.abs(alone).max())


def test_forward_rejects_wrong_shapes_and_layers(network):
    with pytest.raises(ValueError, match=r"\(n, 187, 96\)"):
        network.forward(np.zeros((2, 96, 187), np.float32))
    with pytest.raises(ValueError, match="unknown musicnn layers"):
        network.forward(np.zeros((1, 187, 96), np.float32), ("cnn9",))
    empty = network.forward(np.zeros((0, 187, 96), np.float32), ("taggram",))
    assert empty["taggram"].shape == (0, 50)


# --------------------------------------------------------------------------- preprocessing


def musicnn_batch_data(path: str, hop: int = 187) -> np.ndarray:
    """musicnn 0.1.0's ``batch_data``, literally, with the logarithm taken in float32."""
    import librosa

    audio, sr = librosa.load(path, sr=16000)
    audio_rep = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=256, n_fft=512,
                                               n_mels=96).T
    audio_rep = audio_rep.astype(np.float16)
    audio_rep = np.log10(10000 * audio_rep.astype(np.float32) + 1)
    last_frame = audio_rep.shape[0] - 187 + 1
    return np.stack([audio_rep[t : t + 187] for t in range(0, last_frame, hop)])


def test_patches_equal_musicnn_batch_data(write_audio):
    rng = np.random.default_rng(3)
    path = str(write_audio("noise.wav", 0.3 * rng.standard_normal(22050 * 10), 22050))
    spec = PatchSpec(offset=0.0, duration=None, hop_frames=187, layer="taggram", pooling="none")
    np.testing.assert_array_equal(spec.patches(spec.plan(path)), musicnn_batch_data(path))
    overlapping = PatchSpec(offset=0.0, duration=None, hop_frames=61, layer="taggram",
                            pooling="none")
    np.testing.assert_array_equal(overlapping.patches(overlapping.plan(path)),
                                  musicnn_batch_data(path, hop=61))


def test_log_is_taken_in_float32_so_loud_bins_stay_finite():
    t = np.arange(16000 * 4) / 16000
    loud = np.sign(np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # full-scale square wave
    spectrogram = log_mel(loud)
    assert np.isfinite(spectrogram).all()
    assert spectrogram.max() > np.log10(10000 * 6.55 + 1)  # float16 would have overflowed


def test_patch_counts():
    assert n_patches_for(186 * 256 - 1, 187) == 0  # one sample short of 187 frames
    assert n_patches_for(186 * 256, 187) == 1
    assert n_patches_for(16000 * 30, 187) == 10  # a 30 s track: 1876 frames
    assert len(cut_patches(np.zeros((1876, 96), np.float32), 187)) == 10
    assert len(cut_patches(np.zeros((186, 96), np.float32), 187)) == 0


# --------------------------------------------------------------------------- real tracks


def test_top_tags_make_sense_on_real_tracks(gtzan_root):
    from sk_audio_genre import MusicnnEmbedder

    expected = {"jazz/jazz.00000": {"jazz"}, "metal/metal.00000": {"metal", "heavy metal"},
                "hiphop/hiphop.00001": {"Hip-Hop"}, "classical/classical.00001": {"instrumental"}}
    paths = [str(next(gtzan_root.glob(f"{stem}.*"))) for stem in expected]
    taggram = MusicnnEmbedder(layer="taggram").fit_transform(paths)
    for (stem, wanted), row in zip(expected.items(), taggram, strict=True):
        top3 = {MSD_TAGS[i] for i in np.argsort(-row)[:3]}
        assert wanted & top3, f"{stem}: top tags {top3}"
    metal = MSD_TAGS.index("metal")
    assert taggram[1, metal] > 5 * taggram[[0, 2, 3], metal].max()  # metal only on metal


def test_outputs_match_musicnn_own_code_on_real_tracks(gtzan_root, network):
    """musicnn 0.1.0's extractor (run under tf_keras, float32 logarithm) on GTZAN tracks.

    The input is compared live, exactly, with musicnn's ``batch_data`` run on this machine:
    resampling and FFTs round differently on other CPUs, so input patches recorded elsewhere
    (the file once held their SHA-256) cannot be matched bit for bit.  The outputs recorded
    from musicnn's own code are compared with tolerances.  Measured largest differences over
    the 6 tracks, on an AMD EPYC (AVX2, no AVX-512) by default and under
    ``OPENBLAS_NUM_THREADS=1``, ``OPENBLAS_CORETYPE=Sandybridge|Nehalem|Prescott`` and
    ``NPY_DISABLE_CPU_FEATURES=X86_V3`` (SSE4.2 only): taggram 2.5e-6 to 3.6e-6, penultimate
    1.1e-5 to 1.6e-5 (values up to 4.8).  The tolerances leave about 3x (taggram, values in
    0..1) and 6x (penultimate) of room; a changed preprocessing step (e.g. no float16
    rounding) moves the outputs by far more.
    """
    stored = np.load(ORIGINAL, allow_pickle=False)
    tracks = [str(t) for t in stored["track_ids"]]
    assert len(tracks) >= 4
    for track in tracks:
        path = str(next(gtzan_root.glob(f"{track.split('.')[0]}/{track}.*")))
        spec = PatchSpec(offset=0.0, duration=None, hop_frames=187, layer="taggram",
                         pooling="none")
        patches = spec.patches(spec.plan(path))
        np.testing.assert_array_equal(patches, musicnn_batch_data(path),
                                      err_msg=f"{track}: input differs from batch_data's")
        out = network.forward(patches, ("taggram", "penultimate"))
        np.testing.assert_allclose(out["taggram"], stored[f"{track}/taggram"], rtol=0,
                                   atol=1e-5, err_msg=track)
        np.testing.assert_allclose(out["penultimate"], stored[f"{track}/penultimate"], rtol=0,
                                   atol=1e-4, err_msg=track)


def test_dead_filter_shortcut_changes_no_output(weights, monkeypatch):
    """Leaving the dead filters out equals computing every filter, even for loud input."""
    import sk_audio_genre._musicnn as module

    shortcut = MusicnnNetwork(weights)
    monkeypatch.setattr(module, "DEAD_FILTER_EFFECT", 0.0)  # every filter is computed
    full = MusicnnNetwork(weights)
    assert [len(c.live) for c in shortcut.timbral] == [23, 14]
    assert [len(c.live) for c in full.timbral] == [204, 204]
    x = np.concatenate([random_patches(3, seed=5), 3 * random_patches(2, seed=6)])  # up to ~40
    a, b = shortcut.forward(x, LAYERS), full.forward(x, LAYERS)
    for layer in LAYERS:  # float32 rounding of sums of large terms: relative to the layer's range
        scale = np.abs(b[layer]).max()
        np.testing.assert_allclose(a[layer], b[layer], rtol=0, atol=1e-5 * scale, err_msg=layer)
