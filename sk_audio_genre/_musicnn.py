"""musicnn's MSD model (Pons & Serra 2019) as NumPy matrix products, and its shipped weights.

The network is musicnn 0.1.0's ``build_musicnn`` with ``num_filt_midend=64`` and
``num_units_backend=200`` (``tools/musicnn_reference.py`` follows the original code line
by line in TensorFlow; the tests hold this module to it within 1e-4).  Its weights are the
checkpoint's variables, converted once by ``tools/convert_musicnn.py`` and shipped in
``sk_audio_genre/data/musicnn/`` with musicnn's licence and ``SOURCE.json`` (the wheel's and
every variable's SHA-256); :func:`load_weights` refuses a file whose digest or shapes are
not the expected ones.

Why NumPy and not Keras: no TensorFlow import (about 6 s), no graph tracing, and room for
the rewrites below, which ``benchmarks/embed_speed.py`` measures against the ``tf.nn``
version.  The arithmetic as written is about 2.8 GFLOP per 3 s patch; these rewrites make
it about a tenth of that without changing any output by more than float32 rounding:

* **Dead filters.**  Training's weight decay left most front-end filters with weights
  below 2e-5 in total (181 of 204, 190 of 204, and 48, 44 and 34 of 51), and 44 of the 64
  filters of the first mid-end layer; the live ones have more than 0.04.  A filter that no
  plausible input can move by more than :data:`DEAD_FILTER_EFFECT` is the constant
  ``BN(relu(bias))`` and is left out of its matrix product; the mid-end layers leave the
  constant input channels out too, adding their precomputed contribution (which differs
  at the first and last 3 frames, where TensorFlow's zero padding replaces them).
* **Pooling first.**  A front-end block is ``max over frequency of BN(relu(conv +
  bias))``.  The batch normalisation is a per-filter ``scale * v + shift``; for ``scale >=
  0`` the maximum commutes with it and with relu, for ``scale < 0`` it turns into a
  minimum, which is minus the maximum of the negated filter.  So those filters are
  negated once, the product is reduced over frequency straight away, and bias, relu and
  normalisation touch ``(time, filters)`` values only.
* **Matrix products in place of convolutions**, with buffers reused from patch to patch:
  the temporal filters (128, 64 and 32 frames, TensorFlow's "same" padding) share one
  matrix of 128-frame windows (the shorter kernels are its centred column ranges); the
  timbral filters turn their 7 time taps into output columns (see ``_timbral``).
* Every dropout is the identity at inference and is left out.

Examples
--------
>>> import numpy as np
>>> from sk_audio_genre._musicnn import MusicnnNetwork
>>> net = MusicnnNetwork.shipped()
>>> patches = np.zeros((2, 187, 96), dtype=np.float32)
>>> out = net.forward(patches, layers=("penultimate", "taggram"))
>>> out["penultimate"].shape, out["taggram"].shape
((2, 200), (2, 50))
"""

from __future__ import annotations

import functools
import hashlib
import io
import threading
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- weights

#: The shipped arrays and their SHA-256 (a changed or damaged file is refused).
WEIGHTS_FILE = "MSD_musicnn.npz"
WEIGHTS_SHA256 = "8d8db55c851046b89c090488f0344991e3093e5c80d12ad67a9f20003f9f2560"

#: Temporal kernels (frames), as in the checkpoint's order.
TEMPORAL_KERNELS = (128, 64, 32)


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
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        weights = {name: arrays[name].astype(np.float32) for name in arrays.files}
    _check_shapes(weights, path)
    return weights


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    convs = [(7, 38, 1, 204), (7, 67, 1, 204), *[(k, 1, 1, 51) for k in TEMPORAL_KERNELS],
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


# --------------------------------------------------------------------------- network

#: Frames (time) and mel bands (frequency) of one input patch.
PATCH_FRAMES = 187
N_MELS = 96
#: ``tf.compat.v1.layers.batch_normalization``'s default epsilon, used by musicnn.
EPSILON = 1e-3
#: Patches whose mid-end and back-end run as one block of matrix products.
PATCHES_PER_BLOCK = 16

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

#: A filter whose output no input can move by this much is computed as a constant
#: (:class:`_Conv`).  In MSD_musicnn, training's weight decay left 181 of 204, 190 of 204,
#: 48, 44 and 34 of 51 front-end filters and 44 of 64 first mid-end filters with weights
#: below 2e-5 in total (the live ones have more than 0.04), so the product shrinks about
#: tenfold while no output moves by more than about 1e-6.
DEAD_FILTER_EFFECT = 1e-6
#: Bounds on the inputs the dead-filter test assumes.  The front end sees the normalised
#: log-mel spectrogram, ``0.44 * log10(10000 * S + 1) - 1.13``: about -1.1 to 2.4 for audio
#: in [-1, 1], under 10 for any float audio.  The mid end sees front-end features (tens).
FRONT_END_INPUT_BOUND = 100.0
MID_END_INPUT_BOUND = 1e6


_BUFFERS = threading.local()


def _buffer(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 scratch array of ``shape``, reused by this thread from call to call."""
    buffers = _BUFFERS.__dict__.setdefault("arrays", {})
    array = buffers.get(name)
    if array is None or array.shape != shape:
        array = buffers[name] = np.empty(shape, dtype=np.float32)
    return array


def _batch_norm(weights: Mapping[str, np.ndarray], index: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)`` with ``BN(v) = scale * v + shift`` in inference mode."""
    name = "batch_normalization" if index == 0 else f"batch_normalization_{index}"
    gamma, beta = weights[f"{name}/gamma"], weights[f"{name}/beta"]
    mean, variance = weights[f"{name}/moving_mean"], weights[f"{name}/moving_variance"]
    scale = gamma / np.sqrt(variance + np.float32(EPSILON))
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


class _Conv:
    """``BN(relu(conv + bias))`` of one layer as a matrix product over its live filters.

    A filter is *dead* when no input within ``input_bound`` can move its output by
    ``DEAD_FILTER_EFFECT`` (``sum |w| * input_bound * |BN scale|`` below it): its output is
    the constant ``BN(relu(bias))`` and it is left out of the product.
    """

    def __init__(self, kernel: np.ndarray, bias: np.ndarray, bn: tuple[np.ndarray, np.ndarray],
                 *, input_bound: float, sign_flip: bool = False) -> None:
        scale, shift = bn
        matrix = kernel.reshape(-1, kernel.shape[-1])
        effect = np.abs(matrix).sum(axis=0) * input_bound * np.abs(scale)
        self.live = np.flatnonzero(effect >= DEAD_FILTER_EFFECT)
        self.constant = (np.maximum(bias, 0) * scale + shift).astype(np.float32)
        # For a max over frequency (the front end): negate the live filters whose BN scale
        # is negative, so that one maximum serves every filter (see the module docstring).
        self.sign = np.where(sign_flip & (scale[self.live] < 0), np.float32(-1), np.float32(1))
        self.matrix = np.ascontiguousarray(matrix[:, self.live] * self.sign)
        self.bias, self.scale, self.shift = bias[self.live], scale[self.live], shift[self.live]
        self.n_filters = kernel.shape[-1]

    def outputs_constant(self) -> np.ndarray:
        """Per filter: its constant output if it is dead, else NaN."""
        values = self.constant.astype(np.float64)
        values[self.live] = np.nan
        return values

    def finish(self, products: np.ndarray) -> np.ndarray:
        """From the live filters' (signed, pooled) products to all filters' outputs."""
        out = np.empty((*products.shape[:-1], self.n_filters), dtype=np.float32)
        out[...] = self.constant
        pre = products * self.sign + self.bias
        out[..., self.live] = np.maximum(pre, 0, out=pre) * self.scale + self.shift
        return out


class _TimbralConv(_Conv):
    """A timbral block, its kernel also laid out as ``(width, taps x live)`` for ``_timbral``."""

    def __init__(self, kernel: np.ndarray, *args, **kwargs) -> None:
        super().__init__(kernel, *args, **kwargs)
        self.n_taps, self.width = kernel.shape[:2]
        by_tap = self.matrix.reshape(self.n_taps, self.width, len(self.live))
        self.taps = np.ascontiguousarray(by_tap.transpose(1, 0, 2).reshape(self.width, -1))


class _TimeConv(_Conv):
    """A mid-end layer: a 7-frame convolution over time (3 zero frames padded either side).

    Input channels that are constant (the outputs of dead filters before it) are left out of
    the product: their contribution is a per-frame constant, precomputed, that differs from
    the interior only in the first and last 3 frames, where the zero padding replaces them.
    """

    def __init__(self, kernel: np.ndarray, bias: np.ndarray, bn: tuple[np.ndarray, np.ndarray],
                 constant_inputs: np.ndarray, *, input_bound: float) -> None:
        super().__init__(kernel, bias, bn, input_bound=input_bound)
        taps = kernel.reshape(kernel.shape[0], kernel.shape[1], -1)[:, :, self.live]
        fixed = ~np.isnan(constant_inputs)
        self.varying = np.flatnonzero(~fixed)
        self.matrix = np.ascontiguousarray(taps[:, self.varying].reshape(-1, len(self.live)))
        # Each tap's contribution of the constant channels, (taps, live filters).
        self.tap_constants = np.einsum("c,tcf->tf", constant_inputs[fixed].astype(np.float64),
                                       taps[:, fixed].astype(np.float64))

    @functools.lru_cache(maxsize=4)  # noqa: B019 - a few lengths per network, kept for life
    def edge_term(self, n_frames: int) -> np.ndarray:
        """The constant channels' contribution at each output frame, ``(n_frames, live)``."""
        n_taps = len(self.tap_constants)
        half = n_taps // 2
        term = np.zeros((n_frames, self.tap_constants.shape[1]))
        for tap, value in enumerate(self.tap_constants):
            first, last = max(0, half - tap), min(n_frames, n_frames + half - tap)
            term[first:last] += value  # frames whose tap falls inside the input
        return term.astype(np.float32)

    def __call__(self, source: np.ndarray) -> np.ndarray:
        """The layer's output for ``source`` of shape ``(n, time, channels)``."""
        n, time, _ = source.shape
        padded = np.pad(source[:, :, self.varying], ((0, 0), (3, 3), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, 7, axis=1)
        columns = np.swapaxes(windows, 2, 3).reshape(n * time, -1)
        products = (columns @ self.matrix).reshape(n, time, -1) + self.edge_term(time)
        return self.finish(products)



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
        front = {"input_bound": FRONT_END_INPUT_BOUND, "sign_flip": True}
        self.timbral = [
            _TimbralConv(w[f"{name}/kernel"], w[f"{name}/bias"], _batch_norm(w, i + 1), **front)
            for i, name in enumerate(["conv2d", "conv2d_1"])
        ]
        self.temporal = [
            _Conv(w[f"conv2d_{i + 2}/kernel"], w[f"conv2d_{i + 2}/bias"], _batch_norm(w, i + 3),
                  **front)
            for i in range(len(TEMPORAL_KERNELS))
        ]  # fmt: skip
        constant = np.concatenate([c.outputs_constant() for c in (*self.timbral, *self.temporal)])
        self.midend = []
        for i in range(3):
            conv = _TimeConv(w[f"conv2d_{i + 5}/kernel"], w[f"conv2d_{i + 5}/bias"],
                             _batch_norm(w, i + 6), constant, input_bound=MID_END_INPUT_BOUND)
            self.midend.append(conv)
            # the next layer's input: this layer's output (plus the residual after the first)
            constant = conv.outputs_constant() + (0 if i == 0 else constant)
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
        # The front end runs patch by patch in reused buffers: each patch's im2col matrices
        # (about 28 MB) stay in cache and no page is faulted in again.
        front = np.stack([np.concatenate([*self._timbral(p), *self._temporal(p)], axis=1)
                          for p in x])
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

    def _timbral(self, patch: np.ndarray) -> list[np.ndarray]:
        """The two timbral blocks (7 x 38 and 7 x 67 kernels) of one patch, ``(time, 204)`` each.

        With few live filters the product is cheap and copying the input windows is not,
        so the 7 time taps become output columns: one product of the frequency windows
        ``(time + 6, n_freq, width)`` with the kernel laid out as ``(width, taps x
        filters)``, then the taps' shifted results are summed.
        """
        time = patch.shape[0]
        padded = np.pad(patch, ((3, 3), (0, 0)))
        outputs = []
        for index, block in enumerate(self.timbral):
            taps, width, live = block.n_taps, block.width, len(block.live)
            windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)
            n_freq = windows.shape[1]
            columns = _buffer(f"timbral{index}", (time + taps - 1, n_freq, width))
            np.copyto(columns, windows)
            products = _buffer(f"timbral{index}_taps", ((time + taps - 1) * n_freq, taps * live))
            np.matmul(columns.reshape(-1, width), block.taps, out=products)
            by_tap = products.reshape(time + taps - 1, n_freq, taps, live)
            total = _buffer(f"timbral{index}_sum", (time, n_freq, live))
            np.copyto(total, by_tap[:time, :, 0])
            for tap in range(1, taps):
                np.add(total, by_tap[tap : tap + time, :, tap], out=total)
            outputs.append(block.finish(total.max(axis=1)))
        return outputs

    def _temporal(self, patch: np.ndarray) -> list[np.ndarray]:
        """The three temporal blocks (128, 64, 32 frames) of one patch, ``(time, 51)`` each."""
        time, n_mels = patch.shape
        longest = TEMPORAL_KERNELS[0]
        before = (longest - 1) // 2  # TensorFlow's "same": the extra frame goes after
        bands = np.zeros((n_mels, time + longest - 1), dtype=np.float32)  # (mel, padded time)
        bands[:, before : before + time] = patch.T
        windows = np.lib.stride_tricks.sliding_window_view(bands, longest, axis=1)
        columns = _buffer("temporal", (n_mels, time, longest))
        np.copyto(columns, windows)
        columns = columns.reshape(n_mels * time, longest)
        outputs = []
        for block, kernel in zip(self.temporal, TEMPORAL_KERNELS, strict=True):
            start = before - (kernel - 1) // 2  # the kernel's window inside the longest
            products = _buffer(f"temporal_out{kernel}", (n_mels * time, block.matrix.shape[1]))
            np.matmul(columns[:, start : start + kernel], block.matrix, out=products)
            outputs.append(block.finish(products.reshape(n_mels, time, -1).max(axis=0)))
        return outputs

    def _midend(self, front: np.ndarray) -> np.ndarray:
        """Front-end features and the three mid-end layers, concatenated: (n, time, 753)."""
        n, time, _ = front.shape
        layers = [front]
        previous = None
        for conv in self.midend:
            out = conv(front if previous is None else previous)
            if previous is not None:
                out += previous  # residual connection
            layers.append(out)
            previous = out
        return np.concatenate(layers, axis=2)
