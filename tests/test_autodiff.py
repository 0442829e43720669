"""The scalar engine dlcore.autodiff.Value against torch.autograd (float64)."""

from __future__ import annotations

import math
import random

import matplotlib
import pytest
import torch

from dlcore.autodiff import MLP, Layer, Neuron, Value, draw_graph, topological_order

matplotlib.use("Agg")


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# Unary steps that keep every value finite and inside each op's domain.
# Each entry: (engine version, torch version).
UNARY = {
    "exp_of_tanh": (lambda v: v.tanh().exp(), lambda t: t.tanh().exp()),
    "log": (lambda v: (v * v + 0.5).log(), lambda t: (t * t + 0.5).log()),
    "tanh": (lambda v: v.tanh(), lambda t: t.tanh()),
    "relu": (lambda v: v.relu(), lambda t: t.relu()),
    "square": (lambda v: v**2, lambda t: t**2),
    "cube": (lambda v: v**3, lambda t: t**3),
    "sqrt": (lambda v: (v * v + 1) ** 0.5, lambda t: (t * t + 1) ** 0.5),
    "neg": (lambda v: -v, lambda t: -t),
    "reflected": (lambda v: 1.5 - 2 * v, lambda t: 1.5 - 2 * t),
    "recip": (lambda v: 1 / (v * v + 1), lambda t: 1 / (t * t + 1)),
    "pow2": (lambda v: 2 ** v.tanh(), lambda t: 2 ** t.tanh()),
}
BINARY = {
    "+": (lambda a, b: a + b, lambda a, b: a + b),
    "-": (lambda a, b: a - b, lambda a, b: a - b),
    "*": (lambda a, b: a * b, lambda a, b: a * b),
    "/": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
}


def random_expression(seed: int, n_inputs: int = 4, n_ops: int = 25):
    """The same random DAG (nodes reused at random) built twice: with Values and tensors."""
    rng = random.Random(seed)
    xs = [rng.uniform(-2, 2) for _ in range(n_inputs)]
    values = [Value(x) for x in xs]
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    pool = list(zip(values, tensors, strict=True))
    for _ in range(n_ops):
        if rng.random() < 0.45:
            f, g = UNARY[rng.choice(sorted(UNARY))]
            v, t = rng.choice(pool)
            new = (f(v), g(t))
        else:
            f, g = BINARY[rng.choice(sorted(BINARY))]
            (va, ta), (vb, tb) = rng.choice(pool), rng.choice(pool)
            new = (f(va, vb), g(ta, tb))
        if abs(new[0].data) > 1e6:  # keep magnitudes tame: squash and continue
            new = (new[0].tanh(), new[1].tanh())
        pool.append(new)
    out_v = sum((v for v, _ in pool[-5:]), Value(0.0))  # several outputs feed the root
    out_t = sum(t for _, t in pool[-5:])
    return values, tensors, out_v, out_t


@pytest.mark.parametrize("seed", range(60))
def test_random_expressions_match_torch(seed):
    values, tensors, out_v, out_t = random_expression(seed)
    assert close(out_v.data, out_t.item())
    out_v.backward()
    grads = torch.autograd.grad(out_t, tensors, allow_unused=True)
    for v, g in zip(values, grads, strict=True):
        expected = 0.0 if g is None else g.item()
        assert close(v.grad, expected), (v.grad, expected)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_each_unary_op_matches_torch(name):
    f, g = UNARY[name]
    for x in (-1.7, -0.3, 0.4, 2.2):
        v, t = Value(x), torch.tensor(x, dtype=torch.float64, requires_grad=True)
        out_v, out_t = f(v), g(t)
        out_v.backward()
        out_t.backward()
        assert close(out_v.data, out_t.item())
        assert close(v.grad, t.grad.item())


@pytest.mark.parametrize("name", sorted(BINARY))
def test_each_binary_op_matches_torch(name):
    f, g = BINARY[name]
    for x, y in ((-1.7, 0.5), (0.4, -2.2), (3.0, 3.0)):
        a, b = Value(x), Value(y)
        ta, tb = (torch.tensor(z, dtype=torch.float64, requires_grad=True) for z in (x, y))
        out_v, out_t = f(a, b), g(ta, tb)
        out_v.backward()
        out_t.backward()
        assert close(out_v.data, out_t.item())
        assert close(a.grad, ta.grad.item()) and close(b.grad, tb.grad.item())


def test_plain_ops_and_finite_differences():
    """exp, log, division and a fractional power, against central differences too."""

    def f(x):
        return ((x * 0.5).exp() + x.log() / x) ** 1.5 - 3 / x

    x0, h = 1.3, 1e-6
    v = Value(x0)
    out = f(v)
    out.backward()
    numeric = (f(Value(x0 + h)).data - f(Value(x0 - h)).data) / (2 * h)
    assert math.isclose(v.grad, numeric, rel_tol=1e-6)
    t = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    ft = ((t * 0.5).exp() + t.log() / t) ** 1.5 - 3 / t
    ft.backward()
    assert close(out.data, ft.item()) and close(v.grad, t.grad.item())


def test_reused_node_accumulates():
    a = Value(3.0)
    b = a + a  # a is used twice by one node ...
    c = b * b  # ... and b twice by another
    c.backward()
    assert c.data == 36.0
    assert b.grad == 12.0  # dc/db = 2b
    assert a.grad == 24.0  # dc/da = 2b * 2 = 8a
    t = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    tb = t + t
    (tb * tb).backward()
    assert a.grad == t.grad.item()


def test_node_reused_by_many_parents():
    x = Value(0.7)
    terms = [x * k for k in range(1, 101)]  # x feeds 100 different nodes
    out = sum(terms, Value(0.0)) * x  # and the root once more
    out.backward()
    # out = 5050 x^2, so d out / dx = 10100 x
    assert close(x.grad, 10100 * 0.7)


def test_backward_twice_adds_up_like_torch():
    x = Value(2.0)
    y = (x * x).tanh() * x  # intermediate nodes between x and y
    y.backward()
    y.backward()
    t = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    ty = (t * t).tanh() * t
    ty.backward(retain_graph=True)
    ty.backward()
    assert close(x.grad, t.grad.item())
    leaf = Value(1.5)
    leaf.backward()
    leaf.backward()
    assert leaf.grad == 2.0


def test_deep_graph_has_no_recursion_limit():
    n = 10_000
    x = Value(0.5)
    y = x
    for _ in range(n):  # a chain of 6n Values: y <- 0.9999 y + 0.0001 x
        y = y * 0.9999 + x * 0.0001
    y.backward()
    assert len(topological_order(y)) > 5 * n
    # y_n = x (the recursion keeps a fixed point y = x), so dy/dx = 1
    assert close(y.data, 0.5) and close(x.grad, 1.0, 1e-7)


def test_deep_graph_against_torch():
    a, b = Value(0.3), Value(-0.2)
    ta, tb = (torch.tensor(z, dtype=torch.float64, requires_grad=True) for z in (0.3, -0.2))
    y, ty = a, ta
    for _ in range(3000):  # > 12,000 Values, both inputs reused each step
        y = (y * 0.999 + b).tanh() + a * 0.001
        ty = (ty * 0.999 + tb).tanh() + ta * 0.001
    assert len(topological_order(y)) > 12_000
    y.backward()
    ty.backward()
    assert close(y.data, ty.item())
    assert close(a.grad, ta.grad.item()) and close(b.grad, tb.grad.item())


def test_reflected_operators():
    v = Value(2.0)
    for out, expected_data, expected_grad in [
        (lambda: 3 + v, 5.0, 1.0),
        (lambda: 3 - v, 1.0, -1.0),
        (lambda: 3 * v, 6.0, 3.0),
        (lambda: 3 / v, 1.5, -0.75),
        (lambda: 3**v, 9.0, 9.0 * math.log(3)),
        (lambda: 1.5 * v, 3.0, 1.5),
        (lambda: -v, -2.0, -1.0),
    ]:
        v.grad = 0.0
        r = out()
        r.backward()
        assert close(r.data, expected_data) and close(v.grad, expected_grad)


def test_relu_gradient_at_zero_matches_torch():
    v = Value(0.0)
    v.relu().backward()
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    t.relu().backward()
    assert v.grad == t.grad.item() == 0.0


def test_topological_order_puts_parents_first():
    values, _, out, _ = random_expression(3)
    order = topological_order(out)
    position = {id(v): i for i, v in enumerate(order)}
    assert order[-1] is out
    assert len(position) == len(order)  # each Value once
    for v in order:
        for p in v.parents:
            assert position[id(p)] < position[id(v)]


def test_bad_operands_raise_clear_type_errors():
    with pytest.raises(TypeError, match=r"Value \+.*Value, int or float, got str"):
        Value(1.0) + "a"
    with pytest.raises(TypeError, match=r"Value \*.*got list"):
        Value(1.0) * [2]
    with pytest.raises(TypeError, match=r"Value /.*got NoneType"):
        Value(1.0) / None
    with pytest.raises(TypeError, match=r"Value -.*got str"):
        "a" - Value(1.0)
    with pytest.raises(TypeError, match="exponent must be an int or float, not a Value"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(TypeError, match="exponent must be an int or float, got str"):
        Value(2.0) ** "2"
    with pytest.raises(TypeError, match="data must be an int or float, got str"):
        Value("1.0")
    with pytest.raises(TypeError, match=r"got Tensor.*\.item\(\)"):
        Value(torch.tensor(1.0))
    with pytest.raises(TypeError, match="got bool"):
        Value(True)


def test_bad_values_raise_value_errors():
    with pytest.raises(ValueError, match="Value.log: needs a positive number, got -1"):
        Value(-1.0).log()
    with pytest.raises(ValueError, match="positive base"):
        (-2) ** Value(1.0)
    with pytest.raises(ValueError, match="fractional"):
        Value(-2.0) ** 0.5
    with pytest.raises(ValueError, match="2 parents need 2 local_grads, got 1"):
        Value(1.0, (Value(1.0), Value(2.0)), (1.0,))


def test_mlp_matches_torch_model():
    gen = torch.Generator().manual_seed(0)
    net = MLP([3, 5, 4, 2], activation="tanh", generator=gen)
    assert len(net.parameters()) == (3 + 1) * 5 + (5 + 1) * 4 + (4 + 1) * 2
    model = net.to_torch()
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    x = [0.3, -1.2, 0.8]
    out = net(x)
    loss = out[0] * out[0] + out[1]
    loss.backward()
    tout = model(torch.tensor([x], dtype=torch.float64))[0]
    (tout[0] ** 2 + tout[1]).backward()
    assert all(close(o.data, t) for o, t in zip(out, tout.tolist(), strict=True))
    for layer, lin in zip(net.layers, linears, strict=True):
        assert all(
            close(w.grad, g)
            for n, row in zip(layer.neurons, lin.weight.grad.tolist(), strict=True)
            for w, g in zip(n.w, row, strict=True)
        )
        assert all(
            close(n.b.grad, g) for n, g in zip(layer.neurons, lin.bias.grad.tolist(), strict=True)
        )
    net.zero_grad()
    assert all(p.grad == 0.0 for p in net.parameters())
    relu_net = MLP([2, 3, 1], generator=gen).to_torch()
    assert [type(m).__name__ for m in relu_net] == ["Linear", "ReLU", "Linear"]


def test_mlp_initialisation_is_seeded():
    a = MLP([2, 4, 1], generator=torch.Generator().manual_seed(5))
    b = MLP([2, 4, 1], generator=torch.Generator().manual_seed(5))
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    assert all(abs(p.data) <= 2**-0.5 for p in a.layers[0].parameters())


def test_network_argument_checks():
    with pytest.raises(ValueError, match="activation must be"):
        Neuron(2, activation="sigmoid")
    with pytest.raises(ValueError, match="expected 2 inputs, got 3"):
        Neuron(2)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="sizes needs an input and an output"):
        MLP([3])
    assert len(Layer(3, 4)([1.0, 2.0, 3.0])) == 4


def test_draw_graph():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b + a
    c.backward()
    fig = draw_graph(c, title="test")
    assert fig.axes[0].get_title() == "test"
    matplotlib.pyplot.close(fig)
    big = Value(1.0)
    for _ in range(40):
        big = big * 2 + 1
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(big)
