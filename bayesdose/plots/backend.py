"""How the command line draws figures: into files with matplotlib's Agg backend, each
figure released once it is written."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def draw_to_files() -> None:
    """Draw figures with the Agg backend: into files, never a window.

    Examples
    --------
    >>> draw_to_files()
    >>> import matplotlib
    >>> matplotlib.get_backend().lower()
    'agg'
    """
    matplotlib.use("Agg")


def close_figure(figure: Figure) -> None:
    """Release a figure that has been written (pyplot keeps every open figure).

    Examples
    --------
    >>> fig = plt.figure()
    >>> close_figure(fig)
    >>> plt.fignum_exists(fig.number)
    False
    """
    plt.close(figure)
