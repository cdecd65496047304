"""Ours, the reference pyannote.audio 4.0.7 and senko side by side on the same audio:
``python3 -m benchmarks.compare --help`` (``__main__``). ``inputs`` builds the audio and the community-1
folder, ``child`` runs one system in its own process, ``tables`` prints the results, ``der`` scores the dev
set. Nothing here is imported at package import: each system's interpreter imports ``child`` alone."""
