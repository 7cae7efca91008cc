"""Synthetic talking faces: articulation, speech, rendering and the corpus."""
