"""The seed's three networks, layer for layer."""

import pytest

keras = pytest.importorskip("keras")

from sk_audio_genre.networks import build_cnn, build_lstm, build_mlp  # noqa: E402


def _layers(model):
    return [(type(layer).__name__, layer.count_params()) for layer in model.layers]


def test_mlp_is_the_seeds():
    model = build_mlp((130, 13), 10)
    assert _layers(model) == [
        ("Flatten", 0),
        ("Dense", 1690 * 512 + 512),
        ("Dense", 512 * 256 + 256),
        ("Dense", 256 * 64 + 64),
        ("Dense", 64 * 10 + 10),
    ]
    assert model.count_params() == 1_014_218
    assert [layer.activation.__name__ for layer in model.layers[1:]] == [
        "relu",
        "relu",
        "relu",
        "softmax",
    ]


def test_cnn_is_the_seeds():
    model = build_cnn((130, 13, 1), 10)
    assert [name for name, _ in _layers(model)] == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    conv1, pool1, conv2, pool2, conv3 = model.layers[:5]
    assert conv1.kernel_size == (3, 3) and conv2.kernel_size == (3, 3)
    assert conv3.kernel_size == (2, 2)
    assert pool1.pool_size == (3, 3) and pool1.strides == (2, 2) and pool1.padding == "same"
    assert model.layers[7].rate == pytest.approx(0.1)
    # (130, 13) -> conv 128x11 -> pool 64x6 -> conv 62x4 -> pool 31x2 -> conv 30x1
    assert tuple(conv3.output.shape[1:]) == (30, 1, 128)
    assert model.count_params() == 298_186


def test_lstm_is_the_seeds():
    model = build_lstm((130, 13), 10)
    assert _layers(model) == [
        ("LSTM", 4 * (64 * (13 + 64) + 64)),
        ("LSTM", 4 * (64 * (64 + 64) + 64)),
        ("Dense", 64 * 64 + 64),
        ("Dropout", 0),
        ("Dense", 64 * 10 + 10),
    ]
    assert model.layers[0].return_sequences and not model.layers[1].return_sequences
    assert model.layers[3].rate == pytest.approx(0.3)
    assert model.count_params() == 57_802


def test_knobs_change_the_network():
    assert build_cnn((130, 13, 1), 10, batch_norm=True).count_params() > 298_186
    assert build_mlp((130, 13), 10, hidden_layer_sizes=(32,)).count_params() == 1690 * 32 + 32 + 330
    assert any(type(layer).__name__ == "Dropout" for layer in build_mlp((4, 2), 3, dropout=0.2).layers)
    small = build_cnn((5, 1, 1), 2, conv_padding="same")  # too small for 'valid'
    assert small.output_shape == (None, 2)


def test_bad_architecture_parameters_are_named():
    with pytest.raises(ValueError, match="filters"):
        build_cnn((130, 13, 1), 10, filters=(8, 8))
    with pytest.raises(ValueError, match="lstm_units"):
        build_lstm((130, 13), 10, lstm_units=())
