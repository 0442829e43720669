"""dlcore: the shared package of the executable deep-learning textbook.

Infrastructure is re-exported here (``import dlcore as dl; dl.fit(...)``); the
from-scratch layers live in one module per chapter topic (``dlcore.conv``, ...).
"""

from .data import Corpus, Dataset, known_datasets, load, take_per_class
from .device import describe_device, get_device
from .metrics import accuracy
from .models import DigitsCNN, Mnist1dCNN, mlp
from .notebook import check, glue, layer_table, markdown_table, show_source, show_table
from .plotting import plot_history, plot_signals, show_filters, show_images, use_book_style
from .seeding import effective_seed, make_generator, seed_everything
from .training import Evaluation, History, count_parameters, evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "Corpus",
    "Dataset",
    "DigitsCNN",
    "Evaluation",
    "History",
    "Mnist1dCNN",
    "accuracy",
    "check",
    "count_parameters",
    "describe_device",
    "effective_seed",
    "evaluate",
    "fit",
    "get_device",
    "glue",
    "known_datasets",
    "layer_table",
    "load",
    "make_generator",
    "markdown_table",
    "mlp",
    "plot_history",
    "plot_signals",
    "predict",
    "seed_everything",
    "show_filters",
    "show_images",
    "show_source",
    "show_table",
    "take_per_class",
    "use_book_style",
]
