"""Looking inside a model: the one forward-hook capture that every dlcore helper uses
(``layer_table``, ``layer_features``, ``layer_gradient_norms``, ``dream``) and that a
chapter can use directly.

>>> with capture_outputs({"conv": model.conv1}) as calls:
...     model(x)
>>> calls[0].output.shape
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple

from torch import Tensor, nn

__all__ = ["Call", "capture_outputs"]


class Call(NamedTuple):
    """One forward call of a watched module: its name, the module, and what it returned."""

    name: str
    module: nn.Module
    output: object


@contextlib.contextmanager
def capture_outputs(
    modules: Mapping[str, nn.Module] | Iterable[tuple[str, nn.Module]] | Iterable[nn.Module],
    keep: Callable[[Tensor], object] | None = None,
) -> Iterator[list[Call]]:
    """Record every forward call of ``modules`` while the ``with`` block runs.

    ``modules``: a dict name -> module, pairs (name, module), or bare modules (named by their
    position). Yields a list that fills with one :class:`Call` per forward call, in call order;
    ``keep`` (e.g. ``lambda t: t.detach().cpu()``) is applied to each tensor output as it is
    recorded. The hooks are removed on leaving the block, even after an error.
    """
    fn = "capture_outputs"
    if isinstance(modules, nn.Module):
        raise TypeError(
            f"{fn}: modules must be a collection of modules (e.g. {{'name': module}}), "
            f"not one module; wrap it as [module]"
        )
    items = list(modules.items()) if isinstance(modules, Mapping) else list(modules)
    named: list[tuple[str, nn.Module]] = []
    for i, item in enumerate(items):
        name, module = item if isinstance(item, tuple) and len(item) == 2 else (str(i), item)
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{fn}: modules[{name!r}] must be a torch.nn.Module, got {type(module).__name__}"
            )
        named.append((str(name), module))
    if not named:
        raise ValueError(f"{fn}: modules is empty; name at least one module to watch")
    if keep is not None and not callable(keep):
        raise TypeError(f"{fn}: keep must be callable or None, got {type(keep).__name__}")
    calls: list[Call] = []

    def hook_for(name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(module: nn.Module, _inputs: object, output: object) -> None:
            if keep is not None and isinstance(output, Tensor):
                output = keep(output)
            calls.append(Call(name, module, output))

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in named]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()
