"""Speaker diarization: the pyannote community-1 pipeline in plain PyTorch and NumPy."""

# bump on any change that alters outputs: it is part of ``Pipeline.fingerprint`` (the resume key)
__version__ = "0.1.0"
