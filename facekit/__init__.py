"""facekit: multimodal lip-sync face generation (text, audio and mouth images -> a cascade of modulations -> a face).

Importing facekit runs nothing but one setting: ``GOMP_SPINCOUNT=1000`` for PyTorch's OpenMP threads, unless you set
it yourself (see ``facekit.runtime``: why, and what happens when torch was imported first).
"""

from facekit import runtime

runtime.note_import()

__version__ = "0.1.0"
