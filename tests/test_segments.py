"""Segment-array helpers (``sk_audio_genre._segments``): pure NumPy, tested without TensorFlow.

Hand-made arrays with known answers; each error message is checked in full, since the
message is what tells the user which parameter or segment is wrong.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.sparse

from sklearn.exceptions import DataConversionWarning

from sk_audio_genre._segments import (
    aggregate_segments,
    check_segment_shape,
    check_track_array,
    check_track_targets,
    expand_segments,
    predict_from_proba,
    present_segments,
    split_tracks,
    window_segments,
)

NAN = np.nan


# --- check_track_array -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "as_tracks"),
    [
        ((2, 3), lambda X: X[:, None, :, None]),  # one segment of 3 frames x 1 coefficient
        ((2, 3, 4), lambda X: X[:, None]),  # one segment of 3 frames x 4 coefficients
        ((2, 5, 3, 4), lambda X: X),
    ],
)
def test_check_track_array_gives_each_layout_as_float32_tracks(shape, as_tracks):
    X = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 8
    tracks, input_shape = check_track_array(X, estimator_name="Est")
    assert input_shape == shape
    assert tracks.dtype == np.float32
    np.testing.assert_array_equal(tracks, as_tracks(X).astype(np.float32))


def test_check_track_array_keeps_whole_missing_segments():
    X = np.arange(2 * 3 * 3 * 2, dtype=np.float64).reshape(2, 3, 3, 2)
    X[1, 2] = NAN
    tracks, _ = check_track_array(X, estimator_name="Est")
    assert np.isnan(tracks[1, 2]).all()
    np.testing.assert_array_equal(tracks[0], X[0])
    np.testing.assert_array_equal(tracks[1, :2], X[1, :2])


@pytest.mark.parametrize("n_nan", [1, 5])  # one value, and all but one of the segment's 3 x 2
def test_check_track_array_names_a_partly_missing_segment(n_nan):
    X = np.ones((2, 3, 3, 2))
    X[1, 2].flat[:n_nan] = NAN
    message = (
        "Input X contains NaN inside segment 2 of sample 1. Est ignores missing segments "
        "(all values NaN, as MFCCSegmenter writes for a short file) but not partly missing ones."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_track_array(X, estimator_name="Est")


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_check_track_array_refuses_infinity(value):
    X = np.zeros((2, 3, 4))
    X[0, 1, 2] = value
    message = "Input X contains infinity; Est needs finite values."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_track_array(X, estimator_name="Est")


def test_check_track_array_refuses_five_dimensions():
    message = (
        "Est expects X of 2, 3 or 4 dimensions ((n_samples, n_features), "
        "(n_samples, n_frames, n_coefficients) or "
        "(n_tracks, n_segments, n_frames, n_coefficients)); got 5 dimensions."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_track_array(np.zeros((2, 1, 1, 1, 1)), estimator_name="Est")


def test_check_track_array_errors_from_scikit_learn_name_x_and_the_estimator():
    with pytest.raises(TypeError, match=r"^Sparse data was passed for X, but dense data"):
        check_track_array(scipy.sparse.csr_matrix(np.eye(2)), estimator_name="Est")
    with pytest.raises(ValueError, match=r"minimum of 1 is required by Est\.$"):
        check_track_array(np.zeros((0, 3)), estimator_name="Est")


# --- present_segments --------------------------------------------------------------------


@pytest.mark.parametrize("segment_shape", [(1, 1), (4, 3)])
def test_present_segments_marks_the_missing_ones(segment_shape):
    tracks = np.ones((2, 3, *segment_shape))
    tracks[0, 1] = NAN
    tracks[1, 2] = NAN
    np.testing.assert_array_equal(
        present_segments(tracks), [[True, False, True], [True, True, False]]
    )


# --- window_segments ---------------------------------------------------------------------


@pytest.fixture
def timeline_tracks():
    """2 tracks x 3 segments x 4 frames x 2 coefficients, every value distinct."""
    return np.arange(2 * 3 * 4 * 2, dtype=np.float64).reshape(2, 3, 4, 2)


def test_window_segments_recuts_the_timeline(timeline_tracks):
    windows = window_segments(timeline_tracks, 5, 3)
    timeline = timeline_tracks.reshape(2, 12, 2)
    # starts at frames 0, 3 and 6; frames 11 onwards fill no whole window and are dropped
    expected = np.stack([timeline[:, start : start + 5] for start in (0, 3, 6)], axis=1)
    assert windows.shape == (2, 3, 5, 2)
    np.testing.assert_array_equal(windows, expected)
    assert windows.flags.writeable and windows.flags.c_contiguous


def test_window_segments_window_as_long_as_the_track(timeline_tracks):
    windows = window_segments(timeline_tracks, 12, 1)
    np.testing.assert_array_equal(windows, timeline_tracks.reshape(2, 1, 12, 2))


def test_window_segments_a_window_touching_a_missing_segment_is_missing(timeline_tracks):
    timeline_tracks[1, 2] = NAN  # frames 8 to 11 of track 1
    windows = window_segments(timeline_tracks, 5, 3)
    assert np.isnan(windows[1, 2]).all()  # frames 6 to 10
    assert not np.isnan(windows[0]).any() and not np.isnan(windows[1, :2]).any()
    np.testing.assert_array_equal(windows[1, 1], timeline_tracks.reshape(2, 12, 2)[1, 3:8])


def test_window_segments_refuses_a_window_longer_than_the_track(timeline_tracks):
    message = (
        "segment_window asks for windows of 13 frames, but a track has only 12 "
        "(3 segments x 4 frames)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        window_segments(timeline_tracks, 13, 1)


# --- check_track_targets ----------------------------------------------------------------


def test_check_track_targets_refuses_a_label_count_other_than_the_track_count():
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[3, 2\]"):
        check_track_targets(np.zeros((3, 1, 1, 1)), ["a", "b"])


def test_check_track_targets_flattens_a_column_of_labels_with_scikit_learns_warning():
    with pytest.warns(DataConversionWarning, match="column-vector y was passed"):
        y = check_track_targets(np.zeros((2, 1, 1, 1)), [["a"], ["b"]])
    assert y.tolist() == ["a", "b"]


# --- check_segment_shape -----------------------------------------------------------------


def _refusal(X: np.ndarray, segment_shape: tuple[int, int], n_features_in: int) -> str:
    tracks, input_shape = check_track_array(X, estimator_name="CNN")
    with pytest.raises(ValueError) as caught:
        check_segment_shape(tracks, input_shape, segment_shape,
                            n_features_in=n_features_in, estimator_name="CNN")
    return str(caught.value)


@pytest.mark.parametrize("coefficients", [2, 13])  # 2: the least that is not 2-D input
def test_check_segment_shape_tells_2d_input_to_a_model_of_coefficients_what_to_pass(
    coefficients,
):
    assert _refusal(np.zeros((4, 7)), (20, coefficients), 5) == (
        f"X is 2-D with 7 features, but CNN was fitted on tracks of segments of 20 frames x "
        f"{coefficients} coefficients: pass X of shape (n_tracks, n_segments, 20, "
        f"{coefficients}) as MFCCSegmenter returns it, or (n_samples, 20, {coefficients}) for "
        "one segment per sample."
    )


def test_check_segment_shape_speaks_scikit_learns_words_to_a_model_fitted_on_2d_input():
    assert _refusal(np.zeros((4, 3)), (4, 1), 4) == (
        "X has 3 features, but CNN is expecting 4 features as input."
    )


@pytest.mark.parametrize("X", [np.zeros((4, 5, 20, 12)), np.zeros((4, 20, 12))])
def test_check_segment_shape_names_both_segment_shapes(X):
    assert _refusal(X, (20, 13), 5) == (
        "X has segments of 20 frames x 12 coefficients, but CNN was fitted on segments of "
        "20 x 13."
    )


def test_check_segment_shape_accepts_the_fitted_shape_in_any_layout():
    for X in (np.zeros((4, 5, 20, 13)), np.zeros((4, 20, 13))):
        tracks, input_shape = check_track_array(X, estimator_name="CNN")
        check_segment_shape(tracks, input_shape, (20, 13), n_features_in=5, estimator_name="CNN")


# --- expand_segments ---------------------------------------------------------------------


def test_expand_segments_gives_each_present_segment_its_tracks_label_and_weight():
    tracks = np.arange(3 * 2 * 1 * 2, dtype=np.float64).reshape(3, 2, 1, 2)
    tracks[0, 1] = NAN
    y = np.array(["a", "b", "c"])
    segments, labels, weights = expand_segments(tracks, y, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(segments, tracks[[0, 1, 1, 2, 2], [0, 0, 1, 0, 1]])
    np.testing.assert_array_equal(labels, ["a", "b", "b", "c", "c"])
    np.testing.assert_array_equal(weights, [1.0, 2.0, 2.0, 3.0, 3.0])
    assert expand_segments(tracks, y)[2] is None


def test_expand_segments_leaves_out_and_names_empty_tracks():
    tracks = np.ones((3, 2, 1, 1))
    tracks[1] = NAN
    with pytest.warns(UserWarning) as record:
        segments, labels, _ = expand_segments(tracks, np.array(["a", "b", "c"]))
    assert [str(w.message) for w in record] == [
        "Tracks [1] have no present segment and are left out of training."
    ]
    np.testing.assert_array_equal(labels, ["a", "a", "c", "c"])
    assert segments.shape == (4, 1, 1)


def test_expand_segments_lists_at_most_20_empty_tracks():
    tracks = np.full((26, 1, 1, 1), NAN)
    tracks[25] = 1.0
    with pytest.warns(UserWarning) as record:
        expand_segments(tracks, np.arange(26))
    assert str(record[0].message) == (
        f"Tracks {list(range(20))} have no present segment and are left out of training."
    )


def test_expand_segments_refuses_when_no_track_has_a_segment():
    message = "No track has a present segment: every segment is NaN."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        expand_segments(np.full((2, 3, 1, 1), NAN), np.array(["a", "b"]))


# --- aggregate_segments ------------------------------------------------------------------


@pytest.fixture
def segment_proba():
    """3 tracks x 3 segments x 2 classes; track 0 misses a segment, track 2 has none."""
    return np.array(
        [
            [[0.6, 0.4], [0.1, 0.9], [NAN, NAN]],
            [[0.8, 0.2], [0.7, 0.3], [0.2, 0.8]],
            [[NAN, NAN], [NAN, NAN], [NAN, NAN]],
        ]
    )


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("mean", [[0.35, 0.65], [1.7 / 3, 1.3 / 3], [NAN, NAN]]),
        ("vote", [[0.5, 0.5], [2 / 3, 1 / 3], [NAN, NAN]]),
    ],
)
def test_aggregate_segments(segment_proba, how, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the empty track's 0 / 0 stays quiet
        proba, mean_proba = aggregate_segments(segment_proba, how)
    np.testing.assert_allclose(proba, expected)
    np.testing.assert_allclose(mean_proba, [[0.35, 0.65], [1.7 / 3, 1.3 / 3], [NAN, NAN]])


def test_aggregate_segments_votes_among_three_classes():
    p = np.array([[[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7], [0.3, 0.4, 0.3]]])
    np.testing.assert_allclose(aggregate_segments(p, "vote")[0], [[0.25, 0.25, 0.5]])


@pytest.mark.parametrize("how", ["mean", "vote"])
def test_aggregate_segments_an_overflowed_track_leaves_the_others_alone(segment_proba, how):
    segment_proba = segment_proba.copy()
    segment_proba[1, 2] = [np.inf, NAN]  # track 1's last segment overflowed
    present = ~np.isnan(segment_proba[..., 0])
    present[1, 2] = True
    proba, mean_proba = aggregate_segments(segment_proba, how, present)
    expected_track_0 = {"mean": [0.35, 0.65], "vote": [0.5, 0.5]}[how]
    np.testing.assert_allclose(proba[0], expected_track_0)
    np.testing.assert_allclose(mean_proba[0], [0.35, 0.65])
    assert np.isnan(proba[1:]).all() and np.isnan(mean_proba[1:]).all()


@pytest.mark.parametrize("how", ["mean", "vote"])
def test_aggregate_segments_single_class(how):
    p = np.array([[[1.0], [NAN]], [[1.0], [1.0]]])
    np.testing.assert_array_equal(aggregate_segments(p, how)[0], [[1.0], [1.0]])


# --- predict_from_proba ------------------------------------------------------------------

CLASSES = np.array(["jazz", "rock", "pop"])


def test_predict_from_proba_takes_the_most_likely_class_and_the_first_of_a_tie():
    proba = np.array([[0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.4, 0.4, 0.2]])
    np.testing.assert_array_equal(predict_from_proba(CLASSES, proba), ["rock", "pop", "jazz"])


def test_predict_from_proba_tie_break_only_breaks_ties():
    proba = np.array([[0.5, 0.5, 0.0], [0.6, 0.4, 0.0]])
    tie_break = np.array([[0.2, 0.8, 0.0], [0.2, 0.8, 0.0]])
    np.testing.assert_array_equal(predict_from_proba(CLASSES, proba, tie_break), ["rock", "jazz"])


@pytest.mark.parametrize(
    ("n_tracks", "listed"), [(4, [1, 3]), (30, [1, 3, *range(4, 22)])]
)
def test_predict_from_proba_refuses_nan_rows(n_tracks, listed):
    proba = np.full((n_tracks, 3), 1 / 3)
    proba[1] = NAN
    proba[3, 2] = NAN
    proba[4:] = NAN
    message = (
        f"Tracks {listed} have no present segment (all NaN), so they have no genre; "
        "predict_proba gives NaN rows for them."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        predict_from_proba(CLASSES, proba)


def test_predict_from_proba_tells_tracks_without_features_from_overflowed_ones():
    """With ``n_present``, a non-finite row of a track that had segments is an overflow,
    named apart from the tracks that had none (both in one message)."""
    from sk_audio_genre._segments import OVERFLOW_REASON

    proba = np.full((25, 3), 1 / 3)
    proba[0] = NAN  # no segment
    proba[1:, 0] = np.inf  # 24 tracks whose output overflowed
    n_present = np.array([0] + [5] * 24)
    message = (
        "Tracks [0] have no present segment (all NaN), so they have no genre; predict_proba "
        f"gives NaN rows for them. The model's output for tracks {list(range(1, 21))} is not "
        f"finite: {OVERFLOW_REASON}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        predict_from_proba(CLASSES, proba, n_present=n_present)
    proba[0] = 1 / 3  # a NaN row of a track with segments overflowed too
    proba[0, 1] = NAN
    with pytest.raises(ValueError, match=r"^The model's output for tracks \[0, 1, 2,"):
        predict_from_proba(CLASSES, proba, n_present=np.full(25, 5))


# --- split_tracks ------------------------------------------------------------------------


def _check_partition(train, held_out, n):
    assert np.all(np.diff(train) > 0) and np.all(np.diff(held_out) > 0)  # sorted
    np.testing.assert_array_equal(np.sort(np.concatenate([train, held_out])), np.arange(n))


@pytest.mark.parametrize("seed", range(5))
def test_split_tracks_is_stratified_and_repeatable(seed):
    y = np.repeat(["a", "b", "c", "d"], 5)[np.random.default_rng(seed).permutation(20)]
    train, held_out = split_tracks(y, 0.2, random_state=seed)
    _check_partition(train, held_out, 20)
    assert sorted(y[held_out].tolist()) == ["a", "b", "c", "d"]  # one track per genre
    again = split_tracks(y, 0.2, random_state=np.random.RandomState(seed))
    np.testing.assert_array_equal(again[1], held_out)


@pytest.mark.parametrize(
    "y", [np.repeat(["a", "b", "c", "d"], 5), np.array(["a", "b", "b", "b", "c", "c", "c"])]
)
def test_split_tracks_ignores_numpys_global_random_state(y):
    splits = set()
    for global_seed in (1, 2, 3):
        np.random.seed(global_seed)
        train, held_out = split_tracks(y, 0.5, random_state=0)
        splits.add((tuple(train), tuple(held_out)))
    assert len(splits) == 1


def test_split_tracks_depends_on_the_random_state():
    y = np.repeat(["a", "b", "c", "d"], 5)
    held_out = {tuple(split_tracks(y, 0.2, random_state=seed)[1]) for seed in range(5)}
    assert len(held_out) > 1


def test_split_tracks_rounds_the_held_out_count_up():
    train, held_out = split_tracks(np.repeat(["a", "b"], 5), 0.25, random_state=0)
    assert (len(train), len(held_out)) == (7, 3)


def test_split_tracks_two_tracks_of_one_genre():
    train, held_out = split_tracks(np.array(["a", "a"]), 0.5, random_state=0)
    _check_partition(train, held_out, 2)
    assert (len(train), len(held_out)) == (1, 1)


@pytest.mark.parametrize("seed", range(6))
def test_split_tracks_keeps_every_genre_in_training(seed):
    # "a" has one track, so the split cannot be stratified; the fallback may hold "a" out
    y = np.array(["a", "b", "b", "b", "c", "c", "c"])
    train, held_out = split_tracks(y, 0.5, random_state=seed)
    _check_partition(train, held_out, 7)
    assert sorted(set(y[train].tolist())) == ["a", "b", "c"]
    assert 2 <= len(held_out) <= 4  # 4 asked for; one track moved back per missing genre
    np.testing.assert_array_equal(split_tracks(y, 0.5, random_state=seed)[0], train)


def test_split_tracks_moving_back_runs_for_some_seed():
    # which seeds hold out a whole genre depends on scikit-learn's shuffle; across the six
    # seeds of the test above at least one does, so the moving-back path is exercised there
    y = np.array(["a", "b", "b", "b", "c", "c", "c"])
    assert any(len(split_tracks(y, 0.5, random_state=seed)[1]) < 4 for seed in range(6))


@pytest.mark.parametrize(("n_tracks", "fraction"), [(1, 0.5), (4, 1.0), (3, 0.9)])
def test_split_tracks_refuses_too_few_tracks(n_tracks, fraction):
    message = (
        "early_stopping needs at least 2 tracks and validation_fraction < 1 leaving some for "
        f"training; got {n_tracks} tracks and validation_fraction={fraction}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        split_tracks(np.array(["a", "b"] * 2)[:n_tracks], fraction, random_state=0)


def test_split_tracks_refuses_when_every_held_out_track_is_needed_for_training():
    message = (
        "early_stopping could not hold out a track without removing a genre from training; "
        "add tracks or set early_stopping=False."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        split_tracks(np.array(["a", "b"]), 0.5, random_state=0)
