"""facekit: multimodal lip-sync face generation (text, audio and mouth images -> a cascade of modulations -> a face).

Importing facekit runs nothing but one setting: unless you set it yourself, ``GOMP_SPINCOUNT`` is lowered to 1000 before
PyTorch starts its OpenMP threads. With the default (spin for a long time before sleeping), a training step on a
2-core machine was 35x slower whenever a second process used the CPU (8.6 s instead of 0.24 s); with 1000 it is 2x
slower -- what sharing the cores costs -- and unchanged on a quiet machine. It only takes effect if facekit is
imported before torch.
"""

import os

os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.1.0"
