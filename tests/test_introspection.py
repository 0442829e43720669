"""dlcore.introspection.capture_outputs: the one forward-hook capture."""

import pytest
import torch
from torch import nn

import dlcore as dl
from dlcore.introspection import capture_outputs
from dlcore.notebook import layer_table


def test_captures_every_call_in_order_and_removes_its_hooks():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.rand(5, 3)
    with capture_outputs({"hidden": model[1], "out": model[2]}) as calls:
        out = model(x)
        model(x[:2])
    assert [c.name for c in calls] == ["hidden", "out", "hidden", "out"]
    torch.testing.assert_close(calls[1].output, out)
    torch.testing.assert_close(calls[0].output, torch.relu(model[0](x)))
    assert all(not m._forward_hooks for m in model)  # removed on leaving the block


def test_keep_transforms_each_output_and_hooks_go_even_after_an_error():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    with pytest.raises(RuntimeError), capture_outputs([model[1]], keep=lambda t: t.shape) as calls:
        model(torch.rand(2, 3))
        raise RuntimeError("boom")
    assert calls[0].output == torch.Size([2, 4]) and calls[0].name == "0"
    assert not model[1]._forward_hooks


@pytest.mark.parametrize(
    "modules, error, message",
    [
        (nn.Linear(2, 2), TypeError, "modules must be a collection of modules .* not one module"),
        ({"a": "relu"}, TypeError, r"modules\['a'\] must be a torch.nn.Module"),
        ([], ValueError, "modules is empty"),
    ],
)
def test_bad_input(modules, error, message):
    with pytest.raises(error, match=f"capture_outputs: {message}"), capture_outputs(modules):
        pass


def test_the_helpers_built_on_it_still_report_the_same_layers():
    model = dl.mlp([12, 8, 3])
    rows = layer_table(model, (2, 12))
    assert [(r[1], r[2]) for r in rows] == [
        ("Flatten", (2, 12)),
        ("Linear", (2, 8)),
        ("ReLU", (2, 8)),
        ("Linear", (2, 3)),
    ]
    assert rows[1][3] == 12 * 8 + 8
