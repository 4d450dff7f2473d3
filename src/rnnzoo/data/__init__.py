"""Data sets for rnnzoo's examples, tests and benchmarks.

    mackey_glass   the Mackey-Glass delay differential equation (MG17 by default), RK4-integrated by
                   rnnzoo (rnnzoo.data.mackey_glass)
    text           character-level text and stateful BPTT batches (rnnzoo.data.text)
    imdb           the IMDB sentiment data set (rnnzoo.data.imdb)
    tomita         Tomita's 7 regular languages: tomita_accepts, tomita_dataset, encode_strings
                   (rnnzoo.data.tomita)
    irregular      irregularly sampled sinusoids with time gaps, for the CTRNN's per-step dt:
                   irregular_sinusoids (rnnzoo.data.irregular)
    moving_squares bouncing squares videos for next-frame prediction: bouncing_squares
                   (rnnzoo.data.moving_squares)
    pairs          sentence pairs for translation: read_pairs, Moses tokenisation, the split by source
                   sentence (rnnzoo.data.pairs)
    ucr            the UCR/UEA time-series archive's .ts files: load_ts, pad (rnnzoo.data.ucr)
    long_lag       the long-lag problems: adding, copy memory, remember the first symbol
                   (rnnzoo.data.long_lag)
"""

from .irregular import irregular_sinusoids
from .mackey_glass import mackey_glass
from .moving_squares import bouncing_squares
from .tomita import encode_strings, tomita_accepts, tomita_dataset

__all__ = ["bouncing_squares", "encode_strings", "irregular_sinusoids", "mackey_glass", "tomita_accepts",
           "tomita_dataset"]
