"""Device choice, seeding, glue shim, tables and plotting helpers."""

import random
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

import dlcore as dl

ROOT = Path(__file__).resolve().parents[1]


def test_device_override_and_errors(monkeypatch):
    monkeypatch.setenv("DLCORE_DEVICE", "cpu")
    assert dl.get_device() == torch.device("cpu")
    monkeypatch.setenv("DLCORE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'.*DLCORE_DEVICE"):
        dl.get_device()
    monkeypatch.delenv("DLCORE_DEVICE")
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert dl.get_device().type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            dl.get_device("cuda")
    assert dl.describe_device(torch.device("cpu")).startswith("cpu (")


def test_seed_everything_seeds_all_generators_and_honours_dlcore_seed(monkeypatch):
    monkeypatch.delenv("DLCORE_SEED", raising=False)

    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    assert dl.seed_everything(5) == 5
    a = draw()
    dl.seed_everything(5)
    assert draw() == a
    monkeypatch.setenv("DLCORE_SEED", "10")
    assert dl.seed_everything(5) == 15
    assert draw() != a
    assert dl.make_generator(5).initial_seed() == 15
    monkeypatch.setenv("DLCORE_SEED", "abc")
    with pytest.raises(ValueError, match="DLCORE_SEED must be an integer"):
        dl.seed_everything(1)
    with pytest.raises(TypeError, match="seed must be an int"):
        dl.seed_everything(1.5)


def test_glue_returns_plain_python_values_and_works_without_myst_nb(monkeypatch):
    assert dl.glue("x_value", torch.tensor(0.25)) == 0.25
    assert isinstance(dl.glue("y_value", np.float64(2.0)), float)
    with pytest.raises(ValueError, match="glue a scalar"):
        dl.glue("bad", torch.ones(3))
    with pytest.raises(ValueError, match="identifier"):
        dl.glue("not a key", 1)
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # as on Colab: import fails
    assert dl.glue("z_value", 3) == 3
    assert dl.glue("md_value", "cpu (2 threads)", markdown=True) == "cpu (2 threads)"
    with pytest.raises(TypeError, match="markdown=True needs a string"):
        dl.glue("md_bad", 1.0, markdown=True)


def test_markdown_table_and_layer_table():
    text = dl.markdown_table([("a", 1234, 0.123456)], ["name", "count", "value"])
    assert text.splitlines()[2] == "| a | 1,234 | 0.1235 |"
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    rows = dl.layer_table(model, (1, 1, 8, 8))
    assert [r[1] for r in rows] == ["Conv2d", "ReLU", "Flatten", "Linear"]
    assert rows[0][2] == (1, 4, 6, 6) and rows[0][3] == 4 * 9 + 4
    assert sum(r[3] for r in rows) == dl.count_parameters(model)


def test_show_source_renders_the_library_code():
    md = dl.show_source(dl.seed_everything)
    assert "def seed_everything" in md.data and md.data.startswith("```python")


def test_plot_helpers_return_figures_with_titles_and_labels():
    dl.use_book_style()
    h = dl.History(
        train_loss=[1.0, 0.5],
        train_metric=[0.5, 0.7],
        test_loss=[1.1, 0.6],
        test_metric=[0.4, 0.6],
        seconds=[0.1, 0.1],
    )
    fig = dl.plot_history({"run": h}, title="curves")
    assert fig._suptitle.get_text() == "curves"
    assert fig.axes[0].get_xlabel() == "epoch"
    fig = dl.show_images(torch.rand(5, 1, 8, 8), labels=list("abcde"), ncols=3, title="imgs")
    assert len(fig.axes) == 6
    fig = dl.show_filters(torch.randn(4, 1, 3, 3))
    assert len(fig.axes) == 4
    fig = dl.plot_signals(torch.randn(3, 40), labels=[0, 1, 2])
    assert fig.axes[0].get_ylabel() == "value"
    with pytest.raises(ValueError, match="show_images"):
        dl.show_images(torch.rand(8))
    with pytest.raises(ValueError, match="plot_signals"):
        dl.plot_signals(torch.rand(2, 3, 4))
    import matplotlib.pyplot as plt

    plt.close("all")


def test_models_shapes_and_mlp_checks():
    assert dl.DigitsCNN()(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert dl.Mnist1dCNN()(torch.zeros(2, 40)).shape == (2, 10)
    net = dl.mlp([64, 32, 10], activation="tanh", dropout=0.2, norm="batch")
    assert net(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(ValueError, match="activation must be one of"):
        dl.mlp([2, 2], activation="swish")
    with pytest.raises(ValueError, match="dropout"):
        dl.mlp([2, 3, 2], dropout=1.0)
    with pytest.raises(ValueError, match="at least an input and an output"):
        dl.mlp([2])


# ----------------------------------------------------------------------------- dl.check


def test_check_returns_the_value_and_accepts_bounds():
    import numpy as np

    assert dl.check("inf_check_a", 0.5, lo=0.0, hi=1.0) == 0.5
    assert dl.check("inf_check_b", torch.tensor(3.0), lo=2) == 3.0
    assert dl.check("inf_check_c", np.float64(-1.0), hi=0) == -1.0


def test_check_fails_outside_its_range_naming_the_claim():
    with pytest.raises(AssertionError, match="claim 'inf_check_d' fails: 1.5 is outside"):
        dl.check("inf_check_d", 1.5, lo=0.0, hi=1.0)
    with pytest.raises(AssertionError, match="inf_check_e"):
        dl.check("inf_check_e", -0.1, lo=0.0)


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("x", 1.0), ValueError, "needs a bound"),
        (("x", float("nan"), 0, 1), ValueError, "value of 'x' is NaN"),
        (("x", "0.5", 0, 1), TypeError, "value of 'x' must be a number"),
        (("x", 0.5, 1, 0), ValueError, "lo=1.0 above hi=0.0"),
        (("not a name", 0.5, 0, 1), ValueError, "identifier-like"),
        (("x", torch.ones(2), 0, 1), ValueError, "tensor with 2 elements"),
    ],
)
def test_check_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        dl.check(*args)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: dl.seed_everything("1"), "seed_everything"),
        (lambda: dl.make_generator(1.5), "make_generator"),
        (lambda: dl.effective_seed(None), "effective_seed"),
        (
            lambda: dl.fit(
                nn.Linear(2, 2),
                (torch.randn(4, 2), torch.zeros(4, dtype=torch.long)),
                seed="0",
                progress=False,
                device="cpu",
            ),
            "fit",
        ),
    ],
)
def test_seed_errors_name_the_function_called(call, name):
    with pytest.raises(TypeError, match=f"^{name}: seed must be an int"):
        call()


def test_numpy_seeds_are_accepted():
    assert dl.seed_everything(np.int64(3)) == dl.effective_seed(3)


def test_the_execute_tool_reads_glued_values(tmp_path):
    """tools/execute.py (timings, determinism, sweep) reads each glued value, not None."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("execute", ROOT / "tools" / "execute.py")
    execute = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(execute)
    chapter = tmp_path / "tiny.md"
    chapter.write_text(
        "---\njupyter:\n  kernelspec: {name: python3, display_name: Python 3, language: python}\n"
        "---\n\n```python\nimport dlcore as dl\ndl.glue('x', 1.25)\ndl.check('y', 0.5, lo=0, hi=1)\n```\n"
    )
    result = execute.run_one(chapter)
    assert result["error"] is None
    assert result["glue"] == {"x": "1.25", "y": "0.5", "y_lo": "0.0", "y_hi": "1.0"}
