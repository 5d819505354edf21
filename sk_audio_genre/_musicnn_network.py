"""musicnn's MSD model (Pons & Serra 2019) as NumPy matrix products, for inference.

The network is musicnn 0.1.0's ``build_musicnn`` with ``num_filt_midend=64`` and
``num_units_backend=200`` (``tools/musicnn_reference.py`` follows the original code line
by line in TensorFlow; the tests hold this module to it within 1e-4).  Its weights are the
checkpoint's variables, converted once by ``tools/convert_musicnn.py`` and shipped in
``sk_audio_genre/data/musicnn/`` with musicnn's licence.

Why NumPy and not Keras: the arithmetic is about 2.8 GFLOP per 3 s patch, nearly all of
it in five convolutions of a one-channel spectrogram.  Written as one matrix product each
(``im2col``), they run in OpenBLAS near the processor's peak, with no TensorFlow import
(about 6 s) and no graph tracing; ``benchmarks/embed_speed.py`` measures it against the
``tf.nn`` version.  Three exact rewrites save the rest of the time:

* A front-end block is ``max over frequency of BN(relu(conv + bias))``.  The batch
  normalisation is a per-filter ``scale * v + shift``; for ``scale >= 0`` the maximum
  commutes with it and with relu, for ``scale < 0`` it turns into a minimum, which is
  minus the maximum of the negated filter.  So the filters with negative scale are
  negated once at load time, the product is reduced over frequency straight away, and
  bias, relu and normalisation touch ``(time, filters)`` values only, not
  ``(time, frequency, filters)``.
* The three temporal filters (128, 64 and 32 frames, TensorFlow's "same" padding) share
  one ``im2col`` matrix of 128-frame windows: the shorter kernels are its centred
  column ranges, read in place by BLAS.
* Every dropout is the identity at inference and is left out.

Examples
--------
>>> import numpy as np
>>> from sk_audio_genre._musicnn_network import MusicnnNetwork
>>> net = MusicnnNetwork.shipped()
>>> patches = np.zeros((2, 187, 96), dtype=np.float32)
>>> out = net.forward(patches, layers=("penultimate", "taggram"))
>>> out["penultimate"].shape, out["taggram"].shape
((2, 200), (2, 50))
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

import numpy as np

#: Frames (time) and mel bands (frequency) of one input patch.
PATCH_FRAMES = 187
N_MELS = 96
#: ``tf.compat.v1.layers.batch_normalization``'s default epsilon, used by musicnn.
EPSILON = 1e-3
#: Patches per block of matrix products: bounds the im2col buffers (about 12 MB a patch).
PATCHES_PER_BLOCK = 4

#: The 50 Million Song Dataset tags of the ``taggram`` output, in order (musicnn's
#: ``configuration.MSD_LABELS``).
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip

#: What :meth:`MusicnnNetwork.forward` can return, with the size of one patch's output.
LAYER_SIZES = {"taggram": 50, "penultimate": 200, "mean_pool": 753, "max_pool": 753}

#: The shipped arrays and their SHA-256 (a changed or damaged file is refused).
WEIGHTS_FILE = "MSD_musicnn.npz"
WEIGHTS_SHA256 = "8d8db55c851046b89c090488f0344991e3093e5c80d12ad67a9f20003f9f2560"

#: Temporal kernels (frames) in the checkpoint's order, and TensorFlow's "same" padding.
_TEMPORAL_KERNELS = (128, 64, 32)


def weights_dir() -> Path:
    """The folder of the shipped musicnn arrays, licence and conversion record."""
    return Path(str(resources.files("sk_audio_genre").joinpath("data", "musicnn")))


def load_weights(path: str | Path | None = None, *, sha256: str | None = WEIGHTS_SHA256):
    """The checkpoint's variables as a dict of float32 arrays, checked before use.

    Parameters
    ----------
    path : path-like, default=None
        An ``.npz`` written by ``tools/convert_musicnn.py``; None is the shipped file.
    sha256 : str or None, default=the shipped file's digest
        Expected SHA-256 of the file; None skips the check.

    Raises
    ------
    ValueError
        If the digest differs, or an array is missing or has an unexpected shape.
    """
    path = Path(path) if path is not None else weights_dir() / WEIGHTS_FILE
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(
            f"{path} is not the musicnn weights file this package ships (SHA-256 "
            f"{hashlib.sha256(data).hexdigest()}, expected {sha256}); reinstall "
            "sk-audio-genre or regenerate it with tools/convert_musicnn.py."
        )
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        weights = {name: arrays[name].astype(np.float32) for name in arrays.files}
    _check_shapes(weights, path)
    return weights


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    convs = [(7, 38, 1, 204), (7, 67, 1, 204), *[(k, 1, 1, 51) for k in _TEMPORAL_KERNELS],
             (7, 561, 1, 64), (7, 64, 1, 64), (7, 64, 1, 64)]  # fmt: skip
    for i, shape in enumerate(convs):
        name = "conv2d" if i == 0 else f"conv2d_{i}"
        shapes[f"{name}/kernel"], shapes[f"{name}/bias"] = shape, (shape[-1],)
    for i, size in enumerate([1, 204, 204, 51, 51, 51, 64, 64, 64, 1506, 200]):
        name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        for field in ("gamma", "beta", "moving_mean", "moving_variance"):
            shapes[f"{name}/{field}"] = (size,)
    shapes.update({"dense/kernel": (1506, 200), "dense/bias": (200,),
                   "dense_1/kernel": (200, 50), "dense_1/bias": (50,)})  # fmt: skip
    return shapes


def _check_shapes(weights: Mapping[str, np.ndarray], path: Path) -> None:
    expected = _expected_shapes()
    missing = sorted(set(expected) - set(weights))
    wrong = sorted(k for k in expected if k in weights and weights[k].shape != expected[k])
    if missing or wrong:
        raise ValueError(
            f"{path} does not hold musicnn's MSD model: missing {missing}, wrong shape {wrong}."
        )


def _batch_norm(weights: Mapping[str, np.ndarray], index: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)`` with ``BN(v) = scale * v + shift`` in inference mode."""
    name = "batch_normalization" if index == 0 else f"batch_normalization_{index}"
    gamma, beta = weights[f"{name}/gamma"], weights[f"{name}/beta"]
    mean, variance = weights[f"{name}/moving_mean"], weights[f"{name}/moving_variance"]
    scale = gamma / np.sqrt(variance + np.float32(EPSILON))
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


class _PooledConv:
    """``max over frequency of BN(relu(conv + bias))`` for one front-end block."""

    def __init__(self, kernel: np.ndarray, bias: np.ndarray, bn: tuple[np.ndarray, np.ndarray]):
        scale, shift = bn
        self.sign = np.where(scale < 0, np.float32(-1), np.float32(1))
        taps = kernel.shape[0] * kernel.shape[1]
        self.matrix = np.ascontiguousarray(kernel.reshape(taps, -1) * self.sign)
        self.bias, self.scale, self.shift = bias, scale, shift

    def finish(self, signed_max: np.ndarray) -> np.ndarray:
        """From the maximum of the sign-flipped products to the block's output."""
        pre = signed_max * self.sign + self.bias
        return np.maximum(pre, 0, out=pre) * self.scale + self.shift


class MusicnnNetwork:
    """musicnn's MSD network for inference, from the checkpoint's variables.

    Parameters
    ----------
    weights : mapping of str to ndarray
        The checkpoint's variables under their TensorFlow names (see :func:`load_weights`).
    """

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.input_scale, self.input_shift = _batch_norm(w, 0)
        self.timbral = [
            _PooledConv(w[f"{name}/kernel"], w[f"{name}/bias"], _batch_norm(w, i + 1))
            for i, name in enumerate(["conv2d", "conv2d_1"])
        ]
        self.timbral_widths = [w["conv2d/kernel"].shape[1], w["conv2d_1/kernel"].shape[1]]
        self.temporal = [
            _PooledConv(w[f"conv2d_{i + 2}/kernel"], w[f"conv2d_{i + 2}/bias"],
                        _batch_norm(w, i + 3))
            for i in range(len(_TEMPORAL_KERNELS))
        ]  # fmt: skip
        self.midend = []
        for i in range(3):
            kernel = w[f"conv2d_{i + 5}/kernel"]
            self.midend.append((
                np.ascontiguousarray(kernel.reshape(-1, kernel.shape[-1])),
                w[f"conv2d_{i + 5}/bias"],
                *_batch_norm(w, i + 6),
            ))  # fmt: skip
        self.pool_scale, self.pool_shift = _batch_norm(w, 9)
        self.dense = (w["dense/kernel"], w["dense/bias"], *_batch_norm(w, 10))
        self.output = (w["dense_1/kernel"], w["dense_1/bias"])

    @classmethod
    @functools.lru_cache(maxsize=1)
    def shipped(cls) -> MusicnnNetwork:
        """The network with the shipped weights (built once per process)."""
        return cls(load_weights())

    # ------------------------------------------------------------------ forward

    def forward(
        self, patches: np.ndarray, layers: Iterable[str] = ("penultimate",)
    ) -> dict[str, np.ndarray]:
        """The requested outputs for every patch.

        Parameters
        ----------
        patches : ndarray of shape (n_patches, 187, 96)
            Log-mel patches (time, mel band), as musicnn's ``batch_data`` makes them.
        layers : iterable of str, default=("penultimate",)
            Any of ``"taggram"`` (the 50 tag probabilities), ``"penultimate"`` (the
            200-unit layer after its batch normalisation), ``"mean_pool"`` and
            ``"max_pool"`` (the back-end's 753-value temporal poolings).

        Returns
        -------
        dict of str to ndarray of shape (n_patches, size), float32
            ``size`` as in :data:`LAYER_SIZES`.
        """
        layers = tuple(layers)
        unknown = [name for name in layers if name not in LAYER_SIZES]
        if unknown:
            raise ValueError(f"unknown musicnn layers {unknown}; choose from {list(LAYER_SIZES)}.")
        patches = np.asarray(patches, dtype=np.float32)
        if patches.ndim != 3 or patches.shape[1:] != (PATCH_FRAMES, N_MELS):
            raise ValueError(
                f"patches must have shape (n, {PATCH_FRAMES}, {N_MELS}); got {patches.shape}."
            )
        blocks = [
            self._forward_block(patches[start : start + PATCHES_PER_BLOCK], layers)
            for start in range(0, len(patches), PATCHES_PER_BLOCK)
        ]
        if not blocks:
            return {name: np.empty((0, LAYER_SIZES[name]), np.float32) for name in layers}
        return {name: np.concatenate([b[name] for b in blocks]) for name in layers}

    def _forward_block(self, x: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
        x = x * self.input_scale + self.input_shift
        front = np.concatenate([*self._timbral(x), *self._temporal(x)], axis=2)
        features = self._midend(front)  # (n, time, 753)
        max_pool, mean_pool = features.max(axis=1), features.mean(axis=1)
        out = {"max_pool": max_pool, "mean_pool": mean_pool}
        if "penultimate" in layers or "taggram" in layers:
            # musicnn flattens the stacked (753, 2) poolings: max and mean interleaved.
            flat = np.stack([max_pool, mean_pool], axis=2).reshape(len(x), -1)
            flat = flat * self.pool_scale + self.pool_shift
            kernel, bias, scale, shift = self.dense
            hidden = np.maximum(flat @ kernel + bias, 0)
            out["penultimate"] = hidden * scale + shift
            kernel, bias = self.output
            logits = out["penultimate"] @ kernel + bias
            out["taggram"] = 0.5 * (1 + np.tanh(0.5 * logits))  # a sigmoid that never overflows
        return {name: out[name].astype(np.float32, copy=False) for name in layers}

    def _timbral(self, x: np.ndarray) -> list[np.ndarray]:
        """The two timbral blocks (7 x 38 and 7 x 67 kernels), ``(n, time, 204)`` each."""
        n, time, _ = x.shape
        padded = np.pad(x, ((0, 0), (3, 3), (0, 0)))
        outputs = []
        for block, width in zip(self.timbral, self.timbral_widths, strict=True):
            windows = np.lib.stride_tricks.sliding_window_view(padded, (7, width), axis=(1, 2))
            n_freq = windows.shape[2]
            columns = windows.reshape(n * time * n_freq, 7 * width)  # im2col (a copy)
            products = (columns @ block.matrix).reshape(n * time, n_freq, -1)
            outputs.append(block.finish(products.max(axis=1)).reshape(n, time, -1))
        return outputs

    def _temporal(self, x: np.ndarray) -> list[np.ndarray]:
        """The three temporal blocks (128, 64, 32 frames), ``(n, time, 51)`` each."""
        n, time, n_mels = x.shape
        longest = _TEMPORAL_KERNELS[0]
        before = (longest - 1) // 2  # TensorFlow's "same": the extra frame goes after
        padded = np.pad(x, ((0, 0), (before, longest - 1 - before), (0, 0)))
        bands = np.ascontiguousarray(padded.transpose(0, 2, 1))  # (n, mel, padded time)
        windows = np.lib.stride_tricks.sliding_window_view(bands, longest, axis=2)
        columns = windows.reshape(n * n_mels * time, longest)
        outputs = []
        for block, kernel in zip(self.temporal, _TEMPORAL_KERNELS, strict=True):
            start = before - (kernel - 1) // 2  # the kernel's window inside the longest
            products = columns[:, start : start + kernel] @ block.matrix
            pooled = products.reshape(n, n_mels, time, -1).max(axis=1)
            outputs.append(block.finish(pooled))
        return outputs

    def _midend(self, front: np.ndarray) -> np.ndarray:
        """Front-end features and the three mid-end layers, concatenated: (n, time, 753)."""
        n, time, _ = front.shape
        layers = [front]
        previous = None
        for matrix, bias, scale, shift in self.midend:
            source = front if previous is None else previous
            padded = np.pad(source, ((0, 0), (3, 3), (0, 0)))
            windows = np.lib.stride_tricks.sliding_window_view(padded, 7, axis=1)
            columns = np.swapaxes(windows, 2, 3).reshape(n * time, -1)
            out = np.maximum(columns @ matrix + bias, 0).reshape(n, time, -1) * scale + shift
            if previous is not None:
                out += previous  # residual connection
            layers.append(out)
            previous = out
        return np.concatenate(layers, axis=2)
