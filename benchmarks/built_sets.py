"""Scored sets built from the dev set's LibriSpeech voices, for what the dev set itself barely holds:

- ``many/clips``: 16 clips in which 4 to 7 people each say one turn (2-6 s, spoken alone in the dev
  conversations), 0.2-0.8 s apart: someone who speaks once is still a speaker;
- ``joined/libri``: the 20 dev conversations joined into one 13-minute file with 60 speakers (the file the
  scorecard times): a long file with many speakers;
- ``repeated/files``: three LibriSpeech conversations and three mono dev calls, each repeated 8 times with
  its own gain (+-3 dB) and faint noise (45 dB down) per copy: long files with few speakers, where a rule
  that keeps small clusters could turn a recurring cough into a speaker;
- ``telephone/mulaw`` and ``telephone/mp3``: the 20 dev conversations (2-5 speakers) as a phone line
  carries them (band-passed 300-3400 Hz, 8 kHz, noise 45 dB down), as G.711 mu-law WAV and as ~16 kbps MP3:
  the same speech as the wideband set, so the two DERs say what the telephone band costs;
- ``telephone-many/mulaw`` and ``telephone-many/mp3``: the many-speaker clips on the same phone line;
- ``telephone-16k/pcm``: ``telephone/mulaw`` resampled to 16 kHz PCM: phone calls in files of a higher rate
  (told as telephone audio by their band, ``diarization.band``).

The same seed gives the same sets. Score them like any set, e.g.

    python3 -m benchmarks.built_sets /tmp/built
    python3 -m benchmarks.der --dev /tmp/built/many --offsets 0,1.3 --cache /tmp/diarize-features
    python3 -m benchmarks.der --dev /tmp/built/joined --cache /tmp/diarize-features
    python3 -m benchmarks.der --dev /tmp/built/repeated --cache /tmp/diarize-features
    python3 -m benchmarks.der --dev /tmp/built/telephone --offsets 0,0.7,1.3,1.9 --cache /tmp/diarize-features
    python3 -m benchmarks.der --dev /tmp/built/telephone-many --offsets 0,1.3 --cache /tmp/diarize-features
    python3 -m benchmarks.der --dev /tmp/built/telephone-16k --offsets 0,0.7,1.3,1.9 --cache /tmp/diarize-features
"""

from __future__ import annotations

import argparse
import random
import sys
import zlib
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf
import soxr
from pyannote.core import Annotation, Segment

from benchmarks.accuracy import ScoredFile, collect
from benchmarks.paths import DEV, SHARED

LIBRI = DEV / "libri_conversations"
CALLS = SHARED / "data" / "dev-calls" / "mono"
REPEATED = ("dev_2spk_00", "dev_2spk_03", "dev_3spk_10", "devcall_01", "devcall_04", "devcall_09")
RATE = 16000
TELEPHONE_RATE = 8000
SPEAKERS_PER_CLIP = (4, 5, 6, 7)


def shifted(reference: Annotation, seconds: float, into: Annotation) -> None:
    """Every turn of ``reference``, ``seconds`` later, added to ``into``."""
    for segment, _, speaker in reference.itertracks(yield_label=True):
        into[Segment(segment.start + seconds, segment.end + seconds), len(into)] = speaker


def lone_turns(items: list[ScoredFile], shortest: float = 2.0, longest: float = 6.0) -> dict[str, list[np.ndarray]]:
    """speaker -> the audio of each of their turns of ``shortest``-``longest`` s that nobody talks over."""
    turns: dict[str, list[np.ndarray]] = {}
    for item in items:
        audio, rate = sf.read(item.audio, dtype="float32")
        if rate != RATE:
            raise ValueError(f"{item.audio}: {rate} Hz, expected {RATE}")
        reference = item.reference
        for segment, _, speaker in reference.itertracks(yield_label=True):
            others = reference.subset([s for s in reference.labels() if s != speaker]).get_timeline()
            if shortest <= segment.duration <= longest and not others.crop(segment):
                turns.setdefault(speaker, []).append(audio[int(segment.start * rate):int(segment.end * rate)])
    return turns


def many_speaker_clips(items: list[ScoredFile], target: Path, clips: int = 16, seed: int = 7) -> None:
    """``clips`` clips of 4-7 people saying one lone turn each, as WAV + RTTM in ``target``."""
    turns = lone_turns(items)
    speakers = sorted(turns)
    rng = random.Random(seed)
    target.mkdir(parents=True, exist_ok=True)
    for clip in range(clips):
        uri = f"clip{clip:02d}"
        pieces, reference, t = [np.zeros(RATE // 2, np.float32)], Annotation(uri=uri), 0.5
        for speaker in rng.sample(speakers, SPEAKERS_PER_CLIP[clip % len(SPEAKERS_PER_CLIP)]):
            turn = rng.choice(turns[speaker])
            gap = np.zeros(int(RATE * rng.uniform(0.2, 0.8)), np.float32)
            reference[Segment(t, t + len(turn) / RATE), len(reference)] = speaker
            pieces += [turn, gap]
            t += (len(turn) + len(gap)) / RATE
        sf.write(target / f"{uri}.wav", np.concatenate(pieces), RATE, subtype="PCM_16")
        (target / f"{uri}.rttm").write_text(reference.to_rttm())


def joined_file(items: list[ScoredFile], target: Path) -> None:
    """The files of ``items`` one after another as ``joined.wav`` + ``joined.rttm`` (speakers keep their
    labels: LibriSpeech speaker ids, so one voice in two conversations is one speaker)."""
    target.mkdir(parents=True, exist_ok=True)
    parts, reference, t = [], Annotation(uri="joined"), 0.0
    for item in items:
        audio, rate = sf.read(item.audio, dtype="float32")
        parts.append(audio)
        shifted(item.reference, t, reference)
        t += len(audio) / rate
    sf.write(target / "joined.wav", np.concatenate(parts), RATE, subtype="PCM_16")
    (target / "joined.rttm").write_text(reference.to_rttm())


def repeated_files(items: list[ScoredFile], target: Path, copies: int = 8, seed: int = 5) -> None:
    """Each of ``items`` ``copies`` times over, each copy with its own gain and noise, as
    ``{uri}_x{copies}`` WAV + RTTM in ``target`` (at the file's own rate; scored without a UEM)."""
    rng = np.random.default_rng(seed)
    target.mkdir(parents=True, exist_ok=True)
    for item in items:
        audio, rate = sf.read(item.audio, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        uri, parts = f"{item.uri}_x{copies}", []
        reference = Annotation(uri=uri)
        for copy in range(copies):
            gain = 10 ** (rng.uniform(-3, 3) / 20)
            noise = 10 ** (-45 / 20) * np.std(audio) * rng.normal(size=len(audio)).astype(np.float32)
            parts.append(gain * audio + noise)
            shifted(item.reference, copy * len(audio) / rate, reference)
        sf.write(target / f"{uri}.wav", np.clip(np.concatenate(parts), -1, 1), rate, subtype="PCM_16")
        (target / f"{uri}.rttm").write_text(reference.to_rttm())


def telephone_renderings(items: list[ScoredFile], target: Path, seed: int = 11) -> None:
    """Each of ``items`` as a phone line carries it: band-passed 300-3400 Hz, at 8 kHz, peak 0.5, white
    noise 45 dB below full scale, written as ``mulaw/{uri}.wav`` (G.711 mu-law) and that, decoded, as
    ``mp3/{uri}.mp3`` (about 16 kbps average bit rate, whose gapless header keeps the MP3 sample-aligned
    with the WAV, as the dev calls' MP3s are), each beside its reference RTTM and UEM. A file's noise
    depends on the seed and its uri alone: one file rendered alone is the same as in the set."""
    band = scipy.signal.butter(6, [300, 3400], btype="bandpass", fs=RATE, output="sos")
    for kind in ("mulaw", "mp3"):
        (target / kind).mkdir(parents=True, exist_ok=True)
    for item in items:
        audio, rate = sf.read(item.audio, dtype="float64", always_2d=True)
        wideband = soxr.resample(audio.mean(axis=1), rate, RATE) if rate != RATE else audio.mean(axis=1)
        line = soxr.resample(scipy.signal.sosfilt(band, wideband), RATE, TELEPHONE_RATE)
        rng = np.random.default_rng([seed, zlib.crc32(item.uri.encode())])
        line = 0.5 * line / max(np.abs(line).max(), 1e-9) + 10 ** (-45 / 20) * rng.standard_normal(len(line))
        mulaw = target / "mulaw" / f"{item.uri}.wav"
        sf.write(mulaw, np.clip(line, -1, 1), TELEPHONE_RATE, subtype="ULAW")
        decoded, _ = sf.read(mulaw, dtype="float32")
        sf.write(target / "mp3" / f"{item.uri}.mp3", decoded, TELEPHONE_RATE, format="MP3",
                 subtype="MPEG_LAYER_III", bitrate_mode="AVERAGE", compression_level=0.85)
        for kind in ("mulaw", "mp3"):
            (target / kind / f"{item.uri}.rttm").write_text(item.reference.to_rttm())
            if item.uem is not None:
                (target / kind / f"{item.uri}.uem").write_text(item.uem.to_uem())


def at_rate(items: list[ScoredFile], target: Path, rate: int = RATE) -> None:
    """Each of ``items`` resampled to ``rate`` as 16-bit PCM WAV in ``target``, beside its reference RTTM and
    UEM: the same telephone speech in a file of a higher rate, as archives that were resampled hold it."""
    target.mkdir(parents=True, exist_ok=True)
    for item in items:
        audio, source_rate = sf.read(item.audio, dtype="float64")
        sf.write(target / f"{item.uri}.wav", soxr.resample(audio, source_rate, rate), rate, subtype="PCM_16")
        (target / f"{item.uri}.rttm").write_text(item.reference.to_rttm())
        if item.uem is not None:
            (target / f"{item.uri}.uem").write_text(item.uem.to_uem())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder to build the sets in (many/clips, joined/libri, repeated/files, "
                        "telephone/mulaw, telephone/mp3, telephone-many/mulaw, telephone-many/mp3, "
                        "telephone-16k/pcm)")
    parser.add_argument("--libri", default=str(LIBRI), help="the dev LibriSpeech conversations")
    parser.add_argument("--calls", default=str(CALLS), help="the mono dev calls")
    args = parser.parse_args()
    items = collect(Path(args.libri))
    out = Path(args.out)
    many_speaker_clips(items, out / "many" / "clips")
    joined_file(items, out / "joined" / "libri")
    chosen = [item for item in items + collect(Path(args.calls)) if item.uri in REPEATED]
    repeated_files(chosen, out / "repeated" / "files")
    telephone_renderings(items, out / "telephone")
    telephone_renderings(collect(out / "many" / "clips"), out / "telephone-many")
    at_rate(collect(out / "telephone" / "mulaw"), out / "telephone-16k" / "pcm")
    print(f"built {out}: many/clips (16 clips), joined/libri (1 file), repeated/files ({len(chosen)} files), "
          f"telephone/mulaw and telephone/mp3 ({len(items)} files each), telephone-many/mulaw and mp3 (16 each), "
          f"telephone-16k/pcm ({len(items)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
