"""The original course's three networks, layer for layer, and their one description.

Each network is described once (:class:`sk_audio_genre.networks.Network`); the Keras model
and the weight shapes that bound it before it is built both come from that description.
These tests check that the two agree over a grid of every architecture knob, class count
and input shape, and that the defaults are the course's networks.
"""

import itertools
import math

import pytest

keras = pytest.importorskip("keras")

from sk_audio_genre.networks import (  # noqa: E402
    CNN,
    LSTM,
    MLP,
    build_cnn,
    build_lstm,
    build_mlp,
)


def _layers(model):
    return [(type(layer).__name__, layer.count_params()) for layer in model.layers]


def test_mlp_is_the_courses():
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


def test_cnn_is_the_courses():
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


def test_lstm_is_the_courses():
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


@pytest.mark.parametrize(("network", "input_shape", "count"), [
    (MLP, (130, 13), 1_014_218), (CNN, (130, 13, 1), 298_186), (LSTM, (130, 13), 57_802)])
def test_default_weight_shapes_count_the_courses_parameters(network, input_shape, count):
    assert sum(math.prod(s) for s in network.weight_shapes(input_shape, 10)) == count


def _grid(network, knob_values, input_shapes, class_counts=(2, 3, 10)):
    """Every input shape and class count with the defaults, and each knob's values with
    every other knob at its default (and a few combinations of them)."""
    cases = [({}, shape, n) for shape in input_shapes for n in class_counts]
    for name, values in knob_values.items():
        for value, shape in itertools.product(values, input_shapes[:2]):
            cases.append(({name: value}, shape, 3))
    names = list(knob_values)
    for combination in itertools.islice(itertools.product(*knob_values.values()), 0, None, 5):
        cases.append((dict(zip(names, combination)), input_shapes[-1], 4))
    return cases


GRID = [
    *[(MLP, *case) for case in _grid(
        MLP, {"hidden_layer_sizes": [(), (7,), (16, 5), (3, 4, 5, 6)], "dropout": [0.0, 0.2]},
        [(130, 13), (20, 13), (4, 2), (1, 1)])],
    *[(CNN, *case) for case in _grid(
        CNN, {"filters": [(4, 4, 4), (3, 5, 7), (32, 64, 128)], "dense_units": [1, 9],
              "dropout": [0.0, 0.5], "batch_norm": [False, True],
              "conv_padding": ["valid", "same"]},
        [(130, 13, 1), (11, 11, 1), (12, 16, 1), (20, 13, 1)])],
    *[(CNN, {"conv_padding": "same", "batch_norm": bn}, shape, 3)
      for bn in (False, True) for shape in [(1, 1, 1), (5, 2, 1), (7, 30, 1)]],
    *[(LSTM, *case) for case in _grid(
        LSTM, {"lstm_units": [(1,), (8,), (5, 7, 3)], "dense_units": [1, 12],
               "dropout": [0.0, 0.3]},
        [(130, 13), (20, 13), (1, 1), (7, 40)])],
]


@pytest.mark.parametrize(("network", "knobs", "input_shape", "n_classes"), GRID,
                         ids=[f"{n.name}-{k}-{s}-{c}" for n, k, s, c in GRID])
def test_weight_shapes_are_those_of_the_built_network(network, knobs, input_shape, n_classes):
    model = network.build(input_shape, n_classes, **knobs)
    built = [tuple(w.shape) for w in model.weights]
    assert network.weight_shapes(input_shape, n_classes, **knobs) == built
    assert model.output_shape == (None, n_classes)


@pytest.mark.parametrize("input_shape", [(10, 11, 1), (11, 10, 1), (130, 5, 1)])
def test_too_small_input_for_valid_convolutions_is_refused_before_building(input_shape):
    with pytest.raises(ValueError, match="at least 11 frames x 11 coefficients"):
        CNN.weight_shapes(input_shape, 3)
    with pytest.raises(ValueError, match="at least 11 frames x 11 coefficients"):
        build_cnn(input_shape, 3)


def test_smallest_input_for_valid_convolutions_builds():
    assert build_cnn((11, 11, 1), 3).output_shape == (None, 3)


def test_knobs_change_the_network():
    assert build_cnn((130, 13, 1), 10, batch_norm=True).count_params() > 298_186
    assert build_mlp((130, 13), 10, hidden_layer_sizes=(32,)).count_params() == 1690 * 32 + 32 + 330
    assert any(type(layer).__name__ == "Dropout" for layer in build_mlp((4, 2), 3, dropout=0.2).layers)
    small = build_cnn((5, 1, 1), 2, conv_padding="same")  # too small for 'valid'
    assert small.output_shape == (None, 2)


@pytest.mark.parametrize(("build", "network"), [(build_mlp, MLP), (build_cnn, CNN),
                                                (build_lstm, LSTM)])
def test_builders_defaults_are_the_networks(build, network):
    import inspect

    parameters = inspect.signature(build).parameters
    assert {name: parameters[name].default for name in network.defaults} == network.defaults


def test_bad_architecture_parameters_are_named():
    with pytest.raises(ValueError, match="filters"):
        build_cnn((130, 13, 1), 10, filters=(8, 8))
    with pytest.raises(ValueError, match="lstm_units"):
        build_lstm((130, 13), 10, lstm_units=())
