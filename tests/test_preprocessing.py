"""SegmentScaler and SegmentStatistics: values, not just shapes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from sk_audio_genre import SegmentScaler, SegmentStatistics


def test_segment_scaler_equals_standard_scaler_on_the_frames():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(5, 3, 7, 4))
    X[:, :, :, 2] = 1.0 + 1e-16 * rng.normal(size=(5, 3, 7))  # constant up to rounding
    X[1, 2] = np.nan  # a missing segment
    scaler = SegmentScaler().fit(X)
    reference = StandardScaler().fit(X.reshape(-1, 4))
    np.testing.assert_allclose(scaler.mean_, reference.mean_)
    np.testing.assert_allclose(scaler.scale_, reference.scale_)
    assert scaler.scale_[2] == 1.0  # a near-constant coefficient is left unscaled
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z.reshape(-1, 4), reference.transform(X.reshape(-1, 4)))
    assert np.isnan(Z[1, 2]).all() and np.nanmax(np.abs(Z[:, :, :, 2])) < 1e-10


def test_segment_scaler_options_take_effect():
    X = np.random.default_rng(1).normal(3.0, 2.0, size=(4, 2, 5, 3))
    no_mean = SegmentScaler(with_mean=False).fit(X)
    np.testing.assert_array_equal(no_mean.mean_, np.zeros(3))
    no_std = SegmentScaler(with_std=False).fit(X)
    np.testing.assert_array_equal(no_std.scale_, np.ones(3))
    np.testing.assert_allclose(no_std.transform(X), X - X.reshape(-1, 3).mean(axis=0))


def test_segment_statistics_are_each_tracks_means_and_stds_over_present_frames():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3, 4, 6, 2))
    X[0, 3] = np.nan
    stats = SegmentStatistics().fit_transform(X)
    frames = X[0, :3].reshape(-1, 2)
    np.testing.assert_allclose(stats[0], np.concatenate([frames.mean(0), frames.std(0)]))
    with pytest.raises(ValueError, match="fitted on 2"):
        SegmentStatistics().fit(X).transform(X[..., :1])
