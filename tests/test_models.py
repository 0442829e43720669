"""Output shapes and parameter counts of the landmark models added for the pooling chapter."""

import pytest
import torch

import dlcore as dl
from dlcore.models import InceptionBlock, LeNet5


@pytest.mark.parametrize("activation, pool", [("tanh", "avg"), ("relu", "max")])
def test_lenet5_shapes_and_parameters(activation, pool):
    model = LeNet5(activation=activation, pool=pool)
    assert model(torch.zeros(3, 1, 32, 32)).shape == (3, 10)
    # C1 156 + C3 2,416 (full connection) + C5 48,120 + F6 10,164 + output 850
    assert dl.count_parameters(model) == 61_706
    shapes = [row[2] for row in dl.layer_table(model, (1, 1, 32, 32)) if row[1] == "Conv2d"]
    assert shapes == [(1, 6, 28, 28), (1, 16, 10, 10), (1, 120, 1, 1)]


def test_lenet5_rejects_wrong_input_size_and_options():
    with pytest.raises(ValueError, match="32x32"):
        LeNet5()(torch.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match="activation"):
        LeNet5(activation="sigmoid")
    with pytest.raises(ValueError, match="pool"):
        LeNet5(pool="median")


def test_inception_block_3a():
    block = InceptionBlock()  # GoogLeNet's 3a: 192 -> 64 + 128 + 32 + 32 = 256 channels
    out = block(torch.zeros(2, 192, 28, 28))
    assert out.shape == (2, 256, 28, 28) and block.out_channels == 256
    expected = (
        (192 * 64 + 64)
        + (192 * 96 + 96)
        + (96 * 128 * 9 + 128)
        + (192 * 16 + 16)
        + (16 * 32 * 25 + 32)
        + (192 * 32 + 32)
    )
    assert dl.count_parameters(block) == expected == 163_696


def test_inception_block_custom_widths_keep_spatial_size():
    block = InceptionBlock(3, 4, 2, 5, 2, 6, 7)
    out = block(torch.randn(1, 3, 9, 11))
    assert out.shape == (1, 4 + 5 + 6 + 7, 9, 11)
    assert (out >= 0).all()  # every branch ends in a ReLU


def test_existing_models_still_work():
    assert dl.DigitsCNN()(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert dl.Mnist1dCNN()(torch.zeros(2, 40)).shape == (2, 10)
