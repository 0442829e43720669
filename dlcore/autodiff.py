"""A scalar reverse-mode automatic differentiation engine, in the spirit of micrograd.

A :class:`Value` holds one number (``data``), the derivative of the final output with
respect to it (``grad``), the Values it was computed from (``parents``) and, for each
parent, the local derivative d(self)/d(parent) (``local_grads``), computed in the
forward pass. ``out.backward()`` visits the graph once in reverse topological order and
applies the chain rule on every edge, so a Value used twice collects both contributions.

Also here: :func:`draw_graph` (a matplotlib drawing of the graph below a Value) and
the small engine-based :class:`Neuron`, :class:`Layer` and :class:`MLP`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import cast

import torch
from matplotlib.figure import Figure

__all__ = ["Value", "topological_order", "draw_graph", "Neuron", "Layer", "MLP"]


def _is_number(x: object) -> bool:
    """int or float (NumPy scalars too), not bool; plain floats and ints take the fast path."""
    return type(x) in (float, int) or (isinstance(x, Real) and not isinstance(x, bool))


def _as_value(other: object, op: str) -> Value:
    """A Value for ``other`` (Python numbers are wrapped); TypeError for anything else."""
    if isinstance(other, Value):
        return other
    if _is_number(other):
        return Value(cast(float, other))  # any real number: Value turns it into a float
    raise TypeError(
        f"Value {op}: the other operand must be a Value, int or float, "
        f"got {type(other).__name__} ({other!r:.40})"
    )


class Value:
    """One scalar node of a computational graph."""

    __slots__ = ("data", "grad", "parents", "local_grads", "op", "label")  # less memory per node

    def __init__(
        self,
        data: float,
        parents: tuple[Value, ...] = (),
        local_grads: tuple[float, ...] = (),
        op: str = "",
        label: str = "",
    ) -> None:
        if not _is_number(data):
            raise TypeError(
                f"Value: data must be an int or float, got {type(data).__name__} "
                f"({data!r:.40}); for a one-element tensor use .item()"
            )
        if len(parents) != len(local_grads):
            raise ValueError(
                f"Value: {len(parents)} parents need {len(parents)} local_grads, "
                f"got {len(local_grads)}"
            )
        self.data = float(data)
        self.grad = 0.0  # d(output)/d(self), filled in by output.backward()
        self.parents = parents  # the Values this one was computed from
        self.local_grads = local_grads  # d(self)/d(parent) for each parent, in the same order
        self.op = op  # the operation that made it, for drawings
        self.label = label  # an optional name, for drawings

    def __repr__(self) -> str:
        name = f"{self.label}=" if self.label else ""
        return f"Value({name}{self.data:.6g}, grad={self.grad:.6g})"

    # ---- the operations: each returns its result and its local derivatives
    def __add__(self, other: Value | float) -> Value:
        other = _as_value(other, "+")  # d(a+b)/da = 1, d(a+b)/db = 1
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other: Value | float) -> Value:
        other = _as_value(other, "*")  # d(ab)/da = b, d(ab)/db = a
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __pow__(self, k: float) -> Value:  # d(a^k)/da = k a^(k-1)
        if isinstance(k, Value):
            raise TypeError(
                "Value **: the exponent must be an int or float, not a Value; "
                "write (b * a.log()).exp() for a ** b"
            )
        if not _is_number(k):
            raise TypeError(
                f"Value **: the exponent must be an int or float, got {type(k).__name__}"
            )
        if self.data < 0 and k != int(k):
            raise ValueError(
                f"Value **: a negative number ({self.data}) to a fractional power ({k}) is not real"
            )
        return Value(self.data**k, (self,), (k * self.data ** (k - 1),), f"**{k:g}")

    def exp(self) -> Value:  # d(e^a)/da = e^a
        e = math.exp(self.data)
        return Value(e, (self,), (e,), "exp")

    def log(self) -> Value:  # d(log a)/da = 1/a
        if self.data <= 0:
            raise ValueError(f"Value.log: needs a positive number, got {self.data}")
        return Value(math.log(self.data), (self,), (1.0 / self.data,), "log")

    def tanh(self) -> Value:  # d(tanh a)/da = 1 - tanh(a)^2
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")

    def relu(self) -> Value:  # 1 where a > 0, else 0 (also at 0, as torch)
        return Value(max(self.data, 0.0), (self,), (1.0 if self.data > 0 else 0.0,), "relu")

    # ---- everything else is built from the operations above
    def __neg__(self) -> Value:  # -a
        return self * -1.0

    def __sub__(self, other: Value | float) -> Value:  # a - b
        return self + (-_as_value(other, "-"))

    def __truediv__(self, other: Value | float) -> Value:  # a / b = a * b^-1
        return self * _as_value(other, "/") ** -1

    def __radd__(self, other: float) -> Value:  # 2 + a
        return self + other

    def __rmul__(self, other: float) -> Value:  # 2 * a
        return self * other

    def __rsub__(self, other: float) -> Value:  # 2 - a
        return _as_value(other, "-") - self

    def __rtruediv__(self, other: float) -> Value:  # 2 / a
        return _as_value(other, "/") / self

    def __rpow__(self, base: float) -> Value:  # 2 ** a = exp(a log 2)
        if not _is_number(base):
            raise TypeError(
                f"Value **: the base must be an int or float, got {type(base).__name__}"
            )
        if base <= 0:
            raise ValueError(
                f"Value **: a number raised to a Value needs a positive base, got {base}"
            )
        return (self * math.log(base)).exp()

    # ---- reverse-mode accumulation
    def backward(self) -> None:
        """Fill ``.grad`` of every Value this one depends on with d(self)/d(that Value).

        As in PyTorch, the gradients of inputs (Values without parents) add up over calls;
        those of intermediate Values are recomputed by each call.
        """
        order = topological_order(self)  # every parent before its children
        for node in order:
            if node.parents:
                node.grad = 0.0
        self.grad += 1.0  # d(self)/d(self)
        for node in reversed(order):  # every child before its parents
            for parent, local in zip(node.parents, node.local_grads, strict=True):
                parent.grad += local * node.grad  # chain rule, summed over all uses


def topological_order(root: Value) -> list[Value]:
    """Every Value ``root`` depends on, each after all of its parents (``root`` last).

    Depth-first search with an explicit stack instead of recursion, so graphs of any
    depth work (Python's recursion limit is about 1,000 calls).
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:  # all parents are already in `order`
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))  # comes back here after its parents
            stack.extend((p, False) for p in node.parents if p not in visited)
    return order


# ----------------------------------------------------------------------------- drawing


def draw_graph(
    root: Value, title: str = "Computational graph", max_nodes: int = 60, show_grad: bool = True
) -> Figure:
    """Draw the graph below ``root`` left to right: boxes are Values (label, data, grad),
    circles the operations that made them; edges that skip columns are drawn curved."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    nodes = topological_order(root)  # parents before children
    if len(nodes) > max_nodes:
        raise ValueError(
            f"draw_graph: the graph has {len(nodes)} Values; a drawing is legible "
            f"up to max_nodes={max_nodes}"
        )
    children: dict[Value, list[Value]] = {v: [] for v in nodes}
    for v in nodes:
        for p in v.parents:
            children[p].append(v)
    col: dict[Value, int] = {}  # computed Values: longest path from an input
    for v in nodes:
        if v.parents:
            col[v] = 1 + max(col.get(p, 0) for p in v.parents)
    for v in nodes:  # inputs: just left of their first use
        if not v.parents:
            col[v] = min((col[c] for c in children[v]), default=1) - 1
    first = min(col.values())
    columns: dict[int, list[Value]] = {}
    for v in nodes:
        col[v] -= first
        columns.setdefault(col[v], []).append(v)
    y: dict[Value, float] = {}

    def place(vs: list[Value]) -> None:
        for i, v in enumerate(vs):
            y[v] = (len(vs) - 1) / 2 - i

    def mean_y(vs: list[Value], default: float) -> float:
        known = [y[u] for u in vs if u in y]
        return sum(known) / len(known) if known else default

    for c in sorted(columns):
        place(columns[c])
    for _ in range(3):  # fewer crossings: sort by neighbours' heights
        for c in sorted(columns, reverse=True):
            columns[c].sort(key=lambda v: -mean_y(children[v], y[v]))
            place(columns[c])
        for c in sorted(columns):
            columns[c].sort(key=lambda v: -mean_y(list(v.parents), y[v]))
            place(columns[c])

    n_cols, n_rows = len(columns), max(len(vs) for vs in columns.values())
    fig, ax = plt.subplots(figsize=(max(4.0, 2.3 * n_cols), max(2.0, 0.9 * n_rows + 1.2)))
    box_w, box_h, r = 1.6, 0.6, 0.24
    for v in nodes:
        vx, vy = 3.0 * col[v], y[v]
        lines = ([v.label] if v.label else []) + [f"data {v.data:.3g}"]
        lines += [f"grad {v.grad:.3g}"] if show_grad else []
        ax.add_patch(
            FancyBboxPatch(
                (vx - box_w / 2, vy - box_h / 2),
                box_w,
                box_h,
                boxstyle="round,pad=0.02",
                fc="#e8f0fa",
                ec="#1f77b4",
            )
        )
        ax.text(vx, vy, "\n".join(lines), ha="center", va="center", fontsize=7.5)
        if not v.parents:
            continue
        ox = vx - 1.15  # the op circle sits just left of its result
        ax.add_patch(plt.Circle((ox, vy), r, fc="#fdebd3", ec="#ff7f0e", zorder=3))
        ax.text(ox, vy, v.op, ha="center", va="center", fontsize=8, zorder=4)
        ax.annotate(
            "",
            (vx - box_w / 2, vy),
            (ox + r, vy),
            arrowprops=dict(arrowstyle="-|>", color="0.45", shrinkA=0, shrinkB=0),
        )
        for p in v.parents:
            skip = col[v] - col[p] > 1  # would cross the boxes in between: bend it
            ax.annotate(
                "",
                (ox - r, vy),
                (3.0 * col[p] + box_w / 2, y[p]),
                arrowprops=dict(
                    arrowstyle="-|>",
                    color="0.45",
                    shrinkA=0,
                    shrinkB=0,
                    connectionstyle=f"arc3,rad={-0.35 if skip else 0}",
                ),
            )
    ax.set_xlim(-box_w / 2 - 0.2, 3.0 * (n_cols - 1) + box_w / 2 + 0.2)
    ax.set_ylim(-n_rows / 2 - 0.6, n_rows / 2 + 0.2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("forward pass: inputs (left) \u2192 output (right); gradients flow back")
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- networks


class Neuron:
    """``act(w . x + b)`` on Values; weights uniform in +-1/sqrt(n_in) (as torch.nn.Linear)."""

    def __init__(
        self, n_in: int, activation: str = "relu", generator: torch.Generator | None = None
    ) -> None:
        if activation not in ("relu", "tanh", "linear"):
            raise ValueError(
                f"Neuron: activation must be 'relu', 'tanh' or 'linear', got {activation!r}"
            )
        bound = n_in**-0.5
        w = torch.empty(n_in + 1, dtype=torch.float64).uniform_(-bound, bound, generator=generator)
        self.w = [Value(wi) for wi in w[:-1].tolist()]
        self.b = Value(w[-1].item())
        self.activation = activation

    def __call__(self, x: Sequence[Value | float]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron: expected {len(self.w)} inputs, got {len(x)}")
        s = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return s if self.activation == "linear" else getattr(s, self.activation)()

    def parameters(self) -> list[Value]:
        return self.w + [self.b]


class Layer:
    """``n_out`` Neurons that all see the same inputs."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str = "relu",
        generator: torch.Generator | None = None,
    ) -> None:
        self.neurons = [Neuron(n_in, activation, generator) for _ in range(n_out)]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]


class MLP:
    """Layers ``sizes[0] -> ... -> sizes[-1]``; ``activation`` between them, none at the end."""

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        generator: torch.Generator | None = None,
    ) -> None:
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs an input and an output size, got {list(sizes)}")
        last = len(sizes) - 2
        self.layers = [
            Layer(a, b, "linear" if i == last else activation, generator)
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
        ]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        out = self.layers[0](x)  # there is at least one layer
        for layer in self.layers[1:]:
            out = layer(out)
        return out

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0

    def to_torch(self) -> torch.nn.Sequential:
        """The same network as a float64 ``torch.nn.Sequential`` holding copies of the weights."""
        modules: list[torch.nn.Module] = []
        for layer in self.layers:
            n_out, n_in = len(layer.neurons), len(layer.neurons[0].w)
            linear = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(
                    torch.tensor(
                        [[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64
                    )
                )
                linear.bias.copy_(
                    torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64)
                )
            modules.append(linear)
            act = layer.neurons[0].activation
            if act != "linear":
                modules.append(torch.nn.ReLU() if act == "relu" else torch.nn.Tanh())
        return torch.nn.Sequential(*modules)
