"""Models: modality encoders, the modulation cascade, the face generator, the sync expert, baselines."""
