"""Data sets for rnnzoo's examples, tests and benchmarks.

    mackey_glass   the Mackey-Glass delay differential equation (MG17 by default), RK4-integrated by
                   rnnzoo (rnnzoo.data.mackey_glass)
    text           character-level text and stateful BPTT batches (rnnzoo.data.text)
    imdb           the IMDB sentiment data set (rnnzoo.data.imdb)
"""

from .mackey_glass import mackey_glass

__all__ = ["mackey_glass"]
