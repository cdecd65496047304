"""Speaker diarization: the pyannote community-1 pipeline in plain PyTorch and NumPy."""
