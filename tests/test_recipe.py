"""dlcore.recipe: the recipe dataclass, the models and optimisers it builds, the ablation loop."""

import dataclasses

import pytest
import torch
from torch import nn

from dlcore.recipe import (
    Ablation,
    Recipe,
    build_model,
    make_optimizer,
    run_ablation,
    train_recipe,
)
from dlcore.transforms import place_on_canvas


def tiny_data(n=60, size=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=gen)
    y = torch.arange(n) % 3  # three balanced classes
    return x, y


# ----------------------------------------------------------------------------- Recipe


def test_defaults_are_the_full_recipe_and_changes_names_the_differences():
    full = Recipe()
    assert (full.model, full.activation, full.pooling, full.batchnorm) == (
        "cnn",
        "relu",
        "max",
        True,
    )
    assert full.dropout > 0 and full.weight_decay > 0 and full.augment
    assert full.changes() == "(none)"
    ablated = dataclasses.replace(full, dropout=0.0, model="mlp")
    assert ablated.changes() == "model='mlp', dropout=0.0"
    assert full.learning_rate == 0.1 and Recipe(optimizer="adam").learning_rate == pytest.approx(
        3e-3
    )
    assert Recipe(lr=0.2).learning_rate == 0.2
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.dropout = 0.5


@pytest.mark.parametrize(
    "field, value, error, words",
    [
        ("model", "rnn", ValueError, "model must be one of"),
        ("activation", "swish", ValueError, "activation must be one of"),
        ("pooling", "min", ValueError, "pooling must be one of"),
        ("optimizer", "lbfgs", ValueError, "optimizer must be one of"),
        ("schedule", "step", ValueError, "schedule must be one of"),
        ("dropout", 1.0, ValueError, "dropout must be in [0, 1)"),
        ("dropout", -0.1, ValueError, "dropout"),
        ("dropout", "0.5", TypeError, "dropout must be a number"),
        ("weight_decay", -1e-4, ValueError, "weight_decay must be >= 0"),
        ("label_smoothing", 1.0, ValueError, "label_smoothing"),
        ("lr", 0.0, ValueError, "lr must be > 0"),
        ("lr", -0.1, ValueError, "lr"),
        ("lr", float("nan"), ValueError, "lr"),
        ("channels", (16,), ValueError, "channels must be a pair"),
        ("channels", [16, 32], ValueError, "channels must be a pair"),
        ("channels", (16, 0), ValueError, "channels must be a pair"),
        ("epochs", 0, ValueError, "epochs must be a positive int"),
        ("batch_size", 2.5, ValueError, "batch_size must be a positive int"),
        ("hidden", True, ValueError, "hidden must be a positive int"),
        ("batchnorm", 1, TypeError, "batchnorm and augment must be True or False"),
        ("rotation", 200.0, ValueError, "rotation"),
        ("shift", -1.0, ValueError, "shift"),
        ("data_fraction", 0.0, ValueError, "data_fraction must be in (0, 1]"),
        ("data_fraction", 1.5, ValueError, "data_fraction must be in (0, 1]"),
        ("data_fraction", "half", TypeError, "data_fraction must be a number"),
    ],
)
def test_bad_recipes_are_rejected_with_a_message_naming_the_field(field, value, error, words):
    with pytest.raises(error, match=None) as info:
        Recipe(**{field: value})
    assert words in str(info.value)


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("pooling", ["max", "avg", "stride"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 10, 10), (3, 16, 12), (1, 5, 4)])
def test_cnn_output_shape_for_every_pooling_and_image_size(pooling, shape):
    model = build_model(Recipe(pooling=pooling), shape, n_classes=7).eval()
    assert model(torch.rand(4, *shape)).shape == (4, 7)
    layer_types = {type(m) for m in model}
    assert (nn.MaxPool2d in layer_types) == (pooling == "max")
    assert (nn.AvgPool2d in layer_types) == (pooling == "avg")
    strides = [m.stride for m in model if isinstance(m, nn.Conv2d)]
    assert strides == ([(2, 2)] * 2 if pooling == "stride" else [(1, 1)] * 2)


def test_switches_add_and_remove_the_layers_they_name():
    def types(recipe):
        return [type(m) for m in build_model(recipe, (1, 8, 8))]

    full = types(Recipe())
    assert full.count(nn.BatchNorm2d) == 2 and full.count(nn.BatchNorm1d) == 1
    assert full.count(nn.Dropout) == 1 and full.count(nn.ReLU) == 3
    bare = types(Recipe(batchnorm=False, dropout=0.0, activation="sigmoid"))
    assert nn.BatchNorm2d not in bare and nn.BatchNorm1d not in bare and nn.Dropout not in bare
    assert bare.count(nn.Sigmoid) == 3 and nn.ReLU not in bare
    convs = [m for m in build_model(Recipe(batchnorm=False), (1, 8, 8)) if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)  # a bias is redundant only before batch norm
    mlp = build_model(Recipe(model="mlp", mlp_width=20), (1, 8, 8))
    assert not any(isinstance(m, nn.Conv2d) for m in mlp)
    assert sum(p.numel() for p in mlp.parameters()) == (
        64 * 20 + 20 + 2 * 20 + 20 * 20 + 20 + 2 * 20 + 20 * 10 + 10
    )  # linear + batch norm
    assert mlp.eval()(torch.rand(3, 1, 8, 8)).shape == (3, 10)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"recipe": "full"}, TypeError, "recipe must be a dlcore.recipe.Recipe"),
        ({"image_shape": (8, 8)}, ValueError, "image_shape must be (C, H, W)"),
        ({"image_shape": (1, 0, 8)}, ValueError, "image_shape"),
        ({"image_shape": (1, 3, 8)}, ValueError, "needs H, W >= 4"),
        ({"n_classes": 1}, ValueError, "n_classes must be an int >= 2"),
    ],
)
def test_build_model_rejects_bad_arguments(kwargs, error, words):
    args = {"recipe": Recipe(), "image_shape": (1, 8, 8), "n_classes": 10, **kwargs}
    with pytest.raises(error) as info:
        build_model(**args)
    assert words in str(info.value)


# ----------------------------------------------------------------------------- optimisers


def test_make_optimizer_kinds_and_step_sizes():
    model = build_model(Recipe(), (1, 8, 8))
    assert isinstance(make_optimizer(Recipe(optimizer="adam"), model), torch.optim.Adam)
    momentum = make_optimizer(Recipe(), model)
    plain = make_optimizer(Recipe(optimizer="sgd", lr=0.3), model)
    assert isinstance(momentum, torch.optim.SGD) and momentum.defaults["momentum"] == 0.9
    assert plain.defaults["momentum"] == 0.0 and plain.defaults["lr"] == 0.3
    decayed, exempt = momentum.param_groups
    assert all(p.dim() > 1 for p in decayed["params"]) and decayed["weight_decay"] == 5e-4
    assert all(p.dim() <= 1 for p in exempt["params"]) and exempt["weight_decay"] == 0.0
    n_params = sum(1 for _ in model.parameters())
    assert len(decayed["params"]) + len(exempt["params"]) == n_params
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        make_optimizer(Recipe(), "model")
    with pytest.raises(TypeError, match="recipe must be"):
        make_optimizer(None, model)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weight_decay_equals_the_gradient_of_an_l2_penalty_in_float64(seed):
    torch.manual_seed(seed)
    lam, lr = 0.03, 0.2
    recipe = Recipe(weight_decay=lam, lr=lr, optimizer="sgd", dropout=0.0)
    a = build_model(recipe, (1, 8, 8)).double()
    b = build_model(recipe, (1, 8, 8)).double()
    b.load_state_dict(a.state_dict())
    x, y = torch.rand(6, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (6,))
    opt = make_optimizer(recipe, a)
    nn.functional.cross_entropy(a(x), y).backward()
    opt.step()
    loss = nn.functional.cross_entropy(b(x), y)
    (loss + lam / 2 * sum((p**2).sum() for p in b.parameters() if p.dim() > 1)).backward()
    with torch.no_grad():
        for p in b.parameters():
            p -= lr * p.grad
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


# ----------------------------------------------------------------------------- canvas


@pytest.mark.parametrize("shape, size", [((5, 1, 8, 8), 10), ((7, 3, 2, 3), 6), ((4, 2, 5, 5), 5)])
def test_place_on_canvas_equals_a_loop_and_keeps_every_pixel(shape, size):
    from dlcore.seeding import make_generator

    x = torch.rand(*shape) + 0.1
    out = place_on_canvas(x, size, seed=3)
    gen = make_generator(3)
    n, c, h, w = shape
    top = torch.randint(0, size - h + 1, (n,), generator=gen)
    left = torch.randint(0, size - w + 1, (n,), generator=gen)
    expected = torch.zeros(n, c, size, size)
    for i in range(n):
        expected[i, :, top[i] : top[i] + h, left[i] : left[i] + w] = x[i]
    assert torch.equal(out, expected)
    torch.testing.assert_close(out.sum((1, 2, 3)), x.sum((1, 2, 3)))
    assert torch.equal(place_on_canvas(x, size, seed=3), out)  # deterministic per seed


def test_place_on_canvas_varies_with_the_seed_and_rejects_bad_input():
    x = torch.rand(20, 1, 4, 4)
    assert not torch.equal(place_on_canvas(x, 9, seed=0), place_on_canvas(x, 9, seed=1))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        place_on_canvas(x.numpy(), 9)
    with pytest.raises(ValueError, match=r"x must be \(N, C, H, W\)"):
        place_on_canvas(x[:, 0], 9)
    with pytest.raises(ValueError, match="smaller than the images"):
        place_on_canvas(x, 3)
    with pytest.raises(TypeError, match="size must be an int"):
        place_on_canvas(x, 9.0)


# ----------------------------------------------------------------------------- training


def test_train_recipe_is_deterministic_and_uses_the_subset():
    x, y = tiny_data()
    recipe = Recipe(epochs=2, batch_size=10, channels=(4, 4), hidden=8)
    r1 = train_recipe(recipe, (x, y), (x, y), seed=5, n_per_class=5, device="cpu")
    r2 = train_recipe(recipe, (x, y), (x, y), seed=5, n_per_class=5, device="cpu")
    assert 0.0 <= r1.accuracy <= 1.0 and r1.accuracy == r2.accuracy
    assert r1.seconds > 0 and r1.history.epochs == 2
    assert r1.parameters == sum(p.numel() for p in r1.model.parameters())
    for p1, p2 in zip(r1.model.parameters(), r2.model.parameters()):
        assert torch.equal(p1, p2)
    r3 = train_recipe(recipe, (x, y), (x, y), seed=6, n_per_class=5, device="cpu")
    assert any(not torch.equal(a, b) for a, b in zip(r1.model.parameters(), r3.model.parameters()))


def test_train_recipe_learns_an_easy_problem_with_every_optimizer_and_smoothing():
    x, y = tiny_data(90)
    x = x * 0.1
    for label in range(3):  # class = which third of the image is bright
        x[y == label, :, :, 3 * label : 3 * label + 2] += 1.0
    for opt in ("adam", "momentum"):
        recipe = Recipe(
            epochs=15,
            batch_size=15,
            optimizer=opt,
            label_smoothing=0.1,
            channels=(4, 8),
            hidden=16,
            augment=False,
        )
        assert train_recipe(recipe, (x, y), (x, y), device="cpu").accuracy > 0.9, opt


def test_data_fraction_keeps_a_nested_share_of_the_training_images():
    from dlcore.data import take_per_class

    x, y = tiny_data()  # 60 images, 20 per class
    recipe = Recipe(epochs=1, batch_size=10, channels=(4, 4), hidden=8)
    half = dataclasses.replace(recipe, data_fraction=0.5)
    assert train_recipe(recipe, (x, y), (x, y), seed=2, n_per_class=4, device="cpu").n_train == 12
    assert train_recipe(half, (x, y), (x, y), seed=2, n_per_class=4, device="cpu").n_train == 6
    assert train_recipe(half, (x, y), (x, y), seed=2, device="cpu").n_train == 30
    assert train_recipe(recipe, (x, y), (x, y), seed=2, device="cpu").n_train == 60
    # with one seed the smaller subset lies inside the larger one, so rows differ only in size
    small, _ = take_per_class(x, y, 2, seed=2)
    large, _ = take_per_class(x, y, 4, seed=2)
    assert all((large == img).flatten(1).all(1).any() for img in small)


def test_train_recipe_rejects_bad_data():
    x, y = tiny_data()
    with pytest.raises(TypeError, match="train must be a pair"):
        train_recipe(Recipe(), x, (x, y))
    with pytest.raises(ValueError, match=r"test images must be \(N, C, H, W\)"):
        train_recipe(Recipe(), (x, y), (x[:, 0], y))
    with pytest.raises(ValueError, match="60 images but 59 labels"):
        train_recipe(Recipe(), (x, y[:-1]), (x, y))
    with pytest.raises(TypeError, match="recipe must be"):
        train_recipe({"model": "cnn"}, (x, y), (x, y))


def test_run_ablation_pairs_runs_by_seed_and_tabulates_them():
    x, y = tiny_data()
    base = Recipe(epochs=1, batch_size=10, channels=(4, 4), hidden=8)
    recipes = {"full": base, "no dropout": dataclasses.replace(base, dropout=0.0)}
    ab = run_ablation(recipes, (x, y), (x, y), seeds=[0, 1], n_per_class=4, device="cpu")
    assert isinstance(ab, Ablation) and ab.seeds == [0, 1]
    assert ab.accuracies("full").shape == (2,) and ab.accuracies("full").dtype == torch.float64
    assert (ab.seconds("no dropout") > 0).all()
    single = train_recipe(base, (x, y), (x, y), seed=1, n_per_class=4, device="cpu")
    assert ab.runs["full"][1].accuracy == single.accuracy  # run i used seeds[i]
    rows = ab.rows()
    assert [r[0] for r in rows] == ["full", "no dropout"] and len(rows[0]) == len(Ablation.HEADERS)
    assert rows[0][1] == "(baseline)" and rows[1][1] == "dropout=0.0" and rows[0][5] == "—"
    expected = 100 * (ab.accuracies("no dropout") - ab.accuracies("full")).mean().item()
    assert rows[1][5].startswith(f"{expected:+.1f}")
    with pytest.raises(KeyError, match="no recipe named 'nope'"):
        ab.accuracies("nope")
    with pytest.raises(KeyError, match="no recipe named"):
        ab.seconds("nope")


@pytest.mark.parametrize(
    "recipes, seeds, error, words",
    [
        ({}, [0], TypeError, "recipes must be a non-empty dict"),
        ([Recipe()], [0], TypeError, "recipes must be a non-empty dict"),
        ({"a": "full"}, [0], TypeError, "recipe must be a dlcore.recipe.Recipe"),
        ({1: Recipe()}, [0], TypeError, "recipe names must be strings"),
        ({"a": Recipe()}, [], ValueError, "seeds must be a non-empty sequence of ints"),
        ({"a": Recipe()}, [0.5], ValueError, "seeds must be a non-empty sequence of ints"),
    ],
)
def test_run_ablation_rejects_bad_arguments(recipes, seeds, error, words):
    x, y = tiny_data()
    with pytest.raises(error) as info:
        run_ablation(recipes, (x, y), (x, y), seeds=seeds)
    assert words in str(info.value)


def test_the_chapters_mnist_sized_ablation_runs_one_epoch_on_random_images():
    """The modern-practice chapter's RUN_BIG path: every ablated recipe on 28x28 images,
    shift=2.0, a table rendered with markdown_table. Random tensors stand in for MNIST."""
    from dlcore.notebook import markdown_table

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 28, 28, generator=gen)
    y = torch.arange(40) % 10
    full = Recipe()
    variants = {
        "full recipe": {},
        "half the data": {"data_fraction": 0.5},
        "no augmentation": {"augment": False},
        "no dropout, no weight decay": {"dropout": 0.0, "weight_decay": 0.0},
        "no batch norm": {"batchnorm": False},
        "sigmoid, not ReLU": {"activation": "sigmoid"},
        "plain SGD, no momentum": {"optimizer": "sgd"},
        "stride-2 convs, no pooling": {"pooling": "stride"},
        "MLP, no convolution": {"model": "mlp"},
    }
    recipes = {
        name: dataclasses.replace(full, epochs=1, batch_size=16, shift=2.0, **kw)
        for name, kw in variants.items()
    }
    ab = run_ablation(recipes, (x, y), (x[:20], y[:20]), seeds=[0], device="cpu")
    assert ab.runs["half the data"][0].n_train == 20 and ab.runs["full recipe"][0].n_train == 40
    for name in recipes:
        assert 0.0 <= ab.accuracies(name).item() <= 1.0
        assert ab.runs[name][0].history.epochs == 1
    cnn = ab.runs["full recipe"][0].model.eval()
    flatten = [type(m) for m in cnn].index(nn.Flatten)
    features = cnn[:flatten](x[:2])  # the convolutional part, before the classifier
    assert features.shape == (2, 16, 7, 7)  # 28 -> 14 -> 7: the classifier sees a 7x7 map
    table = markdown_table(ab.rows(), Ablation.HEADERS)
    lines = table.splitlines()
    assert len(lines) == 2 + len(recipes) and "stride-2 convs, no pooling" in table
    assert "shift=2.0" not in table  # the changed column compares with the 28x28 full recipe


def test_plain_sgd_defaults_to_the_effective_step_of_momentum():
    assert Recipe(optimizer="sgd").learning_rate == pytest.approx(
        Recipe().learning_rate / (1 - 0.9)
    )


def test_run_ablation_tunes_the_step_size_on_validation_and_tests_the_chosen_run_once():
    x, y = tiny_data()
    xv, yv = tiny_data(30, seed=1)
    xt, yt = tiny_data(30, seed=2)
    base = Recipe(epochs=2, batch_size=10, channels=(4, 4), hidden=8)
    factors = (0.1, 1.0, 10.0)
    ab = run_ablation(
        {"full": base},
        (x, y),
        (xt, yt),
        seeds=[0, 1],
        n_per_class=4,
        device="cpu",
        val=(xv, yv),
        lr_factors=factors,
    )
    for seed, run in zip([0, 1], ab.runs["full"]):
        tried = {
            base.learning_rate * f: train_recipe(
                dataclasses.replace(base, lr=base.learning_rate * f),
                (x, y),
                (xv, yv),
                seed,
                4,
                "cpu",
            )
            for f in factors
        }
        assert set(run.val_by_lr) == set(tried)
        assert run.val_by_lr == pytest.approx({lr: r.accuracy for lr, r in tried.items()})
        best_lr = max(tried, key=lambda lr: tried[lr].accuracy)  # the first of equals
        assert run.lr == best_lr and run.val_accuracy == tried[best_lr].accuracy
        from dlcore.training import evaluate

        assert run.accuracy == evaluate(tried[best_lr].model, (xt, yt))[1]  # test: the chosen run
        assert (
            run.seconds > 0
        )  # all its step sizes; not compared with these re-runs (timing varies)
    assert ab.step_sizes("full").tolist() == [r.lr for r in ab.runs["full"]]
    row = ab.rows()[0]
    assert len(row) == len(Ablation.HEADERS) and row[-1].count("/") == 1
    with pytest.raises(KeyError, match="no recipe named"):
        ab.step_sizes("nope")


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"lr_factors": (1.0,)}, "give val and lr_factors together"),
        ({"val": "tiny"}, "give val and lr_factors together"),
        ({"lr_factors": (), "val": None}, "give val and lr_factors together"),
        (
            {"lr_factors": (), "val": "data"},
            "lr_factors must be a non-empty sequence of positive numbers",
        ),
        (
            {"lr_factors": (1.0, -2.0), "val": "data"},
            "each of lr_factors (got [1.0, -2.0]) must be > 0",
        ),
    ],
)
def test_run_ablation_rejects_half_a_tuning_request(kwargs, words):
    x, y = tiny_data()
    if kwargs.get("val") in ("data", "tiny"):
        kwargs = {**kwargs, "val": (x, y)}
    with pytest.raises(ValueError) as info:
        run_ablation({"a": Recipe(epochs=1)}, (x, y), (x, y), seeds=[0], **kwargs)
    assert words in str(info.value)
