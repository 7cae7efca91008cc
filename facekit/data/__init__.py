"""Data: the text, audio and video modalities and datasets."""
