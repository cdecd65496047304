"""A malformed-input corpus, generated on the fly (nothing binary is committed).

``generate(folder, locked_folder)`` writes several hundred files and returns one :class:`Case` per input:
a path (which may be missing on purpose) and what decoding it may end as — ``"ok"`` (a correct result,
checked against the case's expectations) or one of the engine's ``AudioError`` codes, which are also the
job's ``error_type`` strings. ``checks.evaluate`` runs one case through ``load_audio`` (and the pipeline,
when given one) and lists every way the result differs from the expectation.

Categories: empty, truncated, wrong_extension, not_audio, channels, sample_rate, sample_values, clipped,
silence, duration, paths, missing, permissions.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

OK = "ok"
DECODE, INVALID, NOT_FOUND, TOO_LONG = "decode_error", "invalid_audio", "not_found", "too_long"
FOUR_HOURS = 4 * 3600
NOBODY = 65534
# The engine, like pyannote (pyannote/pyannote-audio#1611), may let the last segment of a file shorter than
# a chunk run into the chunk's zero padding: up to ~0.13 s past the end was measured. Bounded here.
END_SLACK = 0.25


@dataclass(frozen=True)
class Case:
    """One input and what it may become. Picklable (it travels to the isolated runner)."""

    name: str  # unique; also the file id in the job tests
    category: str
    path: str
    expect: frozenset[str]  # allowed outcomes: "ok" and/or AudioError codes
    max_duration: float | None = None
    channel: int | None = None
    duration: tuple[float, float] | None = None  # allowed decoded duration (s) when ok
    channels: int | None = None  # source channel count when ok
    rate: int | None = None  # source sample rate when ok
    peak: float | None = 4.0  # largest allowed |sample| when ok (None: no bound)
    same_as: str | None = None  # an ok result must equal this file's decode exactly
    prefix_of: str | None = None  # an ok result must equal the start of this file's decode
    silent: bool = False  # the pipeline must find no speech
    message: str | None = None  # an error's message must contain this
    locked: bool = False  # read with permissions that bite (as an unprivileged user when run as root)


def _tone(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A deterministic, speech-band test signal (tone + noise), (frames,) or (frames, channels)."""
    n = max(1, round(seconds * rate))
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    mono = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
    if channels == 1:
        return mono.astype(np.float32)
    return np.stack([mono * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1).astype(np.float32)


def encode(data: np.ndarray, rate: int, format: str = "WAV", subtype: str | None = "PCM_16") -> bytes:
    """``data`` as the bytes of an audio file (libsndfile)."""
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format=format, subtype=subtype)
    return buffer.getvalue()


def wav_header(channels: int, rate: int, bits: int = 16, frames: int = 100, data_size: int | None = None,
               fmt: int = 1) -> bytes:
    """A hand-made PCM WAV (header fields as given, even absurd ones) with ``frames`` zero frames."""
    align = channels * bits // 8
    body = b"\0" * (align * frames if align else 200)
    size = len(body) if data_size is None else data_size
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * align) & 0xFFFFFFFF, align & 0xFFFF, bits)
    return (b"RIFF" + struct.pack("<I", (36 + size) & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt_chunk + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + body)


class _Writer:
    """Writes files under a folder and collects the cases."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cases: list[Case] = []
        self.names: set[str] = set()

    def file(self, relative: str, content: bytes) -> Path:
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    def add(self, name: str, category: str, path: Path | str, expect: str | set[str], **checks: Any) -> Case:
        assert name not in self.names, name
        self.names.add(name)
        expected = frozenset({expect} if isinstance(expect, str) else expect)
        case = Case(name, category, str(path), expected, **checks)
        self.cases.append(case)
        return case


# -- categories ----------------------------------------------------------------------------------------

def _empty(w: _Writer) -> None:
    for ext in (".wav", ".flac", ".ogg", ".mp3", ".opus", ".WAV", "", ".txt", ".m4a"):
        w.add(f"empty{ext or '-noext'}", "empty", w.file(f"empty/empty{ext}", b""), DECODE)


TRUNCATION_BASES = {  # name: (format, subtype, rate, lossless)
    "wav16": ("WAV", "PCM_16", 16000, True), "wav24": ("WAV", "PCM_24", 16000, True),
    "wavfloat": ("WAV", "FLOAT", 16000, True), "wavstereo": ("WAV", "PCM_16", 16000, True),
    "flac": ("FLAC", "PCM_16", 16000, True), "ogg": ("OGG", "VORBIS", 16000, False),
    "opus": ("OGG", "OPUS", 48000, False), "mp3": ("MP3", "MPEG_LAYER_III", 16000, False),
}
HEADER_CUTS = (1, 2, 3, 4, 5, 8, 11, 12, 13, 16, 20, 24, 28, 32, 35, 36, 40, 42, 43, 44, 45, 46, 48, 56, 64, 80,
               96, 128)
BODY_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99)


def _truncated(w: _Writer) -> None:
    for base, (fmt, subtype, rate, lossless) in TRUNCATION_BASES.items():
        channels = 2 if base == "wavstereo" else 1
        full = encode(_tone(1.0, rate, channels, seed=1), rate, fmt, subtype)
        ext = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3"}[fmt]
        original = w.file(f"truncated/{base}/full{ext}", full)
        w.add(f"truncated-{base}-full", "truncated", original, OK, duration=(0.95, 1.1), channels=channels,
              rate=rate)
        cuts = sorted({c for c in HEADER_CUTS if c < len(full)}
                      | {int(f * len(full)) for f in BODY_FRACTIONS} | {len(full) - 2, len(full) - 1})
        data_at = full.find(b"data") + 8 if fmt == "WAV" else 0
        align = channels * {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}.get(subtype or "", 0)
        for cut in cuts:
            path = w.file(f"truncated/{base}/cut{cut:06d}{ext}", full[:cut])
            name = f"truncated-{base}-{cut}"
            if fmt == "WAV":  # exact: the header is whole or not; a whole header announces every frame
                if cut < data_at - 4:  # before the end of the 'data' marker
                    w.add(name, "truncated", path, DECODE)
                elif cut < data_at:  # inside the data chunk's size field: nothing to read, either way
                    w.add(name, "truncated", path, {DECODE, INVALID})
                else:  # data shorter than the header says: "truncated: header says N samples, file has M"
                    w.add(name, "truncated", path, DECODE, message=f"file has {(cut - data_at) // align}")
            elif cut < 12:  # not even the magic and first header fields
                w.add(name, "truncated", path, DECODE)
            else:  # compressed: a typed error, or the decodable beginning
                w.add(name, "truncated", path, {OK, DECODE, INVALID}, duration=(0.0, 1.1),
                      prefix_of=str(original) if lossless else None)


def _wrong_extension(w: _Writer) -> None:
    sources = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
               "mp3": ("MP3", "MPEG_LAYER_III"), "aiff": ("AIFF", "PCM_16"), "au": ("AU", "PCM_16"),
               "caf": ("CAF", "PCM_16")}
    for kind, (fmt, subtype) in sources.items():
        data = encode(_tone(0.5, 16000, seed=2), 16000, fmt, subtype)
        proper = w.file(f"ext/proper/{kind}.{kind}", data)
        for ext in ("wav", "mp3", "flac", "ogg", "txt", "", "json", "WAV", "m4a"):
            if ext.lower() == kind:
                continue
            path = w.file(f"ext/{kind}-as-{ext or 'noext'}/audio{'.' + ext if ext else ''}", data)
            w.add(f"wrong-ext-{kind}-as-{ext or 'noext'}", "wrong_extension", path, OK, same_as=str(proper),
                  duration=(0.45, 0.6))
    raw = (_tone(0.5, 16000, seed=3) * 30000).astype("<i2").tobytes()
    w.add("wrong-ext-headerless-pcm", "wrong_extension", w.file("ext/headerless.wav", raw), DECODE)


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    pixels = zlib.compress(b"".join(b"\0" + bytes(range(16)) * 3 for _ in range(16)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def _not_audio(w: _Writer) -> None:
    for size in (1, 2, 3, 4, 10, 44, 100, 512, 1000, 4096, 65536):
        for seed in range(3):
            data = np.random.default_rng(1000 * size + seed).bytes(size)
            w.add(f"random-{size}-{seed}", "not_audio", w.file(f"not_audio/random-{size}-{seed}.wav", data), DECODE)
    wav = encode(_tone(0.2, 16000), 16000)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("inside.wav", wav)
    documents = {
        "text.wav": b"this is not audio\n" * 100, "utf8.flac": "héllo wörld — 音声ではない\n".encode() * 50,
        "csv.mp3": b"path,id\na.wav,1\nb.wav,2\n", "html.ogg": b"<!doctype html><html><body>404</body></html>",
        "json-object.wav": json.dumps({"audio": "data.wav", "rate": 16000}).encode(),
        "json-samples.wav": json.dumps([0.1, -0.2, 0.3] * 1000).encode(), "png.wav": _png(),
        "zip-of-wav.wav": archive.getvalue(), "gzip-of-wav.wav": gzip.compress(wav),
        "pdf.wav": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 20,
        "elf.wav": b"\x7fELF\x02\x01\x01" + bytes(200), "riff-text.wav": b"RIFF is a chunked format " * 20,
        "nul-bytes.wav": bytes(4096), "ff-bytes.wav": b"\xff" * 4096, "base64.wav": base64.b64encode(wav),
        "wav-hex.wav": wav.hex().encode(),
    }
    for name, data in documents.items():
        w.add(f"document-{name}", "not_audio", w.file(f"not_audio/{name}", data), DECODE)
    magics = {"riff": b"RIFF\x00\x10\x00\x00WAVE", "flac": b"fLaC", "ogg": b"OggS",
              "id3": b"ID3\x03\x00\x00\x00\x00\x00\x00", "aiff": b"FORM\x00\x00\x10\x00AIFF", "au": b".snd",
              "caf": b"caff", "nist": b"NIST_1A\n   1024\n", "png": b"\x89PNG\r\n\x1a\n", "zip": b"PK\x03\x04",
              "mpeg-sync": b"\xff\xfb\x90\x64", "mpeg2-sync": b"\xff\xf3"}
    for kind, magic in magics.items():
        for seed in range(3):
            data = magic + np.random.default_rng(seed).bytes(5000)
            expect = {DECODE, INVALID, OK} if kind.startswith("mpeg") else DECODE  # MPEG resyncs on any frame
            w.add(f"magic-{kind}-{seed}", "not_audio", w.file(f"not_audio/magic-{kind}-{seed}.wav", data), expect)


def _channels(w: _Writer) -> None:
    for n in (1, 2, 3, 4, 6, 8):
        path = w.file(f"channels/{n}ch.wav", encode(_tone(0.5, 16000, n), 16000))
        w.add(f"channels-{n}", "channels", path, OK, channels=n, duration=(0.5, 0.5))
    eight = str(w.folder / "channels/8ch.wav")
    for channel, expect in ((0, OK), (7, OK), (8, INVALID), (100, INVALID)):
        w.add(f"channels-8-select-{channel}", "channels", eight, expect, channel=channel, channels=8)
    w.add("channels-1-select-1", "channels", str(w.folder / "channels/1ch.wav"), INVALID, channel=1)
    for n, fmt, subtype in ((8, "FLAC", "PCM_16"), (6, "OGG", "VORBIS"), (2, "MP3", "MPEG_LAYER_III")):
        path = w.file(f"channels/{n}ch.{fmt.lower()}", encode(_tone(0.5, 16000, n), 16000, fmt, subtype))
        w.add(f"channels-{n}-{fmt.lower()}", "channels", path, OK, channels=n, duration=(0.45, 0.6))
    for n, expect in ((0, DECODE), (1024, OK), (1025, DECODE), (65535, DECODE)):
        path = w.file(f"channels/header-{n}ch.wav", wav_header(n, 16000, frames=2))
        w.add(f"channels-header-{n}", "channels", path, expect, channels=n if expect == OK else None)


def _sample_rates(w: _Writer) -> None:
    for rate in (1, 2, 8, 100, 1000, 2000, 3999):
        path = w.file(f"rates/wav-{rate}.wav", encode(np.zeros(max(rate // 2, 1), np.float32), rate))
        w.add(f"rate-wav-{rate}", "sample_rate", path, INVALID)
    for rate in (4000, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000,
                 352800, 384000):
        path = w.file(f"rates/wav-{rate}.wav", encode(_tone(0.25, rate), rate))
        w.add(f"rate-wav-{rate}", "sample_rate", path, OK, rate=rate, duration=(0.245, 0.255))
    for rate in (8000, 44100, 96000, 192000, 384000):
        path = w.file(f"rates/flac-{rate}.flac", encode(_tone(0.25, rate), rate, "FLAC", "PCM_16"))
        w.add(f"rate-flac-{rate}", "sample_rate", path, OK, rate=rate, duration=(0.245, 0.255))
    for rate in (8000, 22050, 48000):
        path = w.file(f"rates/ogg-{rate}.ogg", encode(_tone(0.5, rate), rate, "OGG", "VORBIS"))
        w.add(f"rate-ogg-{rate}", "sample_rate", path, OK, rate=rate, duration=(0.4, 0.6))
    for rate in (8000, 16000, 44100, 48000):
        path = w.file(f"rates/mp3-{rate}.mp3", encode(_tone(0.5, rate), rate, "MP3", "MPEG_LAYER_III"))
        w.add(f"rate-mp3-{rate}", "sample_rate", path, OK, rate=rate, duration=(0.4, 0.7))
    for rate, expect in ((0, DECODE), (768000, OK), (768001, INVALID), (2**31 - 1, INVALID), (2**32 - 1, DECODE)):
        path = w.file(f"rates/header-{rate}.wav", wav_header(1, rate, frames=100))
        w.add(f"rate-header-{rate}", "sample_rate", path, expect, rate=rate if expect == OK else None)


def _sample_values(w: _Writer) -> None:
    base = _tone(1.0, 8000, seed=4)

    def float_wav(name: str, data: np.ndarray, expect: str, subtype: str = "FLOAT", **checks: Any) -> None:
        path = w.file(f"values/{name}.wav", encode(data, 8000, "WAV", subtype))
        w.add(f"values-{name}", "sample_values", path, expect, **checks)

    for where, index in (("first", 0), ("middle", 4000), ("last", 7999)):
        for label, value in (("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)):
            data = base.copy()
            data[index] = value
            float_wav(f"{label}-{where}", data, INVALID)
    float_wav("all-nan", np.full(8000, np.nan, np.float32), INVALID)
    double = base.astype(np.float64)
    double[10] = np.nan
    float_wav("double-nan", double, INVALID, subtype="DOUBLE")
    float_wav("double-1e300", np.full(8000, 1e300), INVALID, subtype="DOUBLE")
    stereo = np.stack([base, base], axis=1)
    stereo[100, 1] = np.nan
    path = w.file("values/nan-in-right.wav", encode(stereo, 8000, "WAV", "FLOAT"))
    w.add("values-nan-in-right-mixed", "sample_values", path, INVALID)
    w.add("values-nan-in-right-left-only", "sample_values", path, OK, channel=0, duration=(1.0, 1.0))
    late = np.zeros(4000 * 35, np.float32)  # beyond the first 30 s block
    late[-1] = np.nan
    path = w.file("values/nan-after-30s.wav", encode(late, 4000, "WAV", "FLOAT"))
    w.add("values-nan-after-30s", "sample_values", path, INVALID)
    for label, value in (("denormal", 1e-40), ("smallest-denormal", 1.4e-45), ("negative-zero", -0.0)):
        float_wav(label, np.full(8000, value, np.float32), OK, duration=(1.0, 1.0))
    for label, scale, expect in (("loud-2", 2.0, OK), ("loud-int16-scale", 32767.0, OK),
                                 ("loud-int32-scale", 2.0**31, OK), ("loud-1e13", 1e13, INVALID),
                                 ("loud-1e30", 1e30, INVALID), ("float-max", 3.4e38, INVALID)):
        float_wav(label, base / np.abs(base).max() * scale, expect, peak=None, duration=(1.0, 1.0))


def _clipped(w: _Writer) -> None:
    rng = np.random.default_rng(5)
    noise = np.sign(rng.standard_normal(16000)).astype(np.float32)
    square = np.sign(np.sin(2 * np.pi * 100 * np.arange(16000) / 16000) + 1e-9).astype(np.float32)
    for label, data in (("noise", noise), ("square", square)):
        for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "ULAW", "ALAW"):
            path = w.file(f"clipped/{label}-{subtype}.wav", encode(data, 16000, "WAV", subtype))
            w.add(f"clipped-{label}-{subtype.lower()}", "clipped", path, OK, duration=(1.0, 1.0), peak=1.01)
        path = w.file(f"clipped/{label}-8k.flac", encode(data, 8000, "FLAC", "PCM_16"))
        w.add(f"clipped-{label}-flac-8k", "clipped", path, OK, duration=(2.0, 2.0), peak=3.0)


def _silence(w: _Writer) -> None:
    for rate, seconds in ((8000, 0.1), (8000, 1.0), (16000, 30.0), (44100, 1.0)):
        path = w.file(f"silence/zeros-{rate}-{seconds}.wav", encode(np.zeros(int(rate * seconds), np.float32), rate))
        w.add(f"silence-wav-{rate}-{seconds}", "silence", path, OK, duration=(seconds, seconds), silent=True,
              peak=0.0)
    for fmt, subtype, ext in (("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3"),
                              ("WAV", "FLOAT", "wav"), ("WAV", "PCM_U8", "u8.wav")):
        path = w.file(f"silence/zeros.{ext}", encode(np.zeros(16000, np.float32), 16000, fmt, subtype))
        w.add(f"silence-{ext}", "silence", path, OK, duration=(0.9, 1.2), silent=True, peak=0.01)
    for label, value in (("dc-positive", 0.5), ("dc-negative", -0.25)):
        path = w.file(f"silence/{label}.wav", encode(np.full(16000, value, np.float32), 16000))
        w.add(f"silence-{label}", "silence", path, OK, duration=(1.0, 1.0))  # the step to the padding is heard


def _durations(w: _Writer) -> None:
    for frames, rate in ((1, 16000), (2, 16000), (10, 16000), (1, 8000), (3, 4000)):
        path = w.file(f"duration/frames-{frames}-{rate}.wav", encode(_tone(frames / rate, rate), rate))
        w.add(f"duration-{frames}-frames-{rate}", "duration", path, OK, duration=(0.0, 0.01))
    for fmt, subtype, ext, rate in (("WAV", "PCM_16", "wav", 8000), ("WAV", "PCM_16", "wav", 16000),
                                    ("WAV", "PCM_16", "wav", 44100), ("FLAC", "PCM_16", "flac", 16000),
                                    ("OGG", "VORBIS", "ogg", 16000), ("MP3", "MPEG_LAYER_III", "mp3", 16000)):
        path = w.file(f"duration/short-{rate}.{ext}", encode(_tone(0.1, rate), rate, fmt, subtype))
        lossy = fmt in ("OGG", "MP3")
        w.add(f"duration-0.1s-{ext}-{rate}", "duration", path, OK, duration=(0.0, 0.2) if lossy else (0.1, 0.1))
    ten = w.file("duration/ten-seconds.wav", encode(_tone(10.0, 8000), 8000))
    w.add("duration-10s-limit-5s", "duration", ten, TOO_LONG, max_duration=5.0)
    w.add("duration-10s-limit-10s", "duration", ten, OK, max_duration=10.0, duration=(10.0, 10.0))
    lying = wav_header(1, 8000, frames=8000, data_size=FOUR_HOURS * 8000 * 2)  # claims 4 h, holds 1 s
    truncated = f"truncated: header says {FOUR_HOURS * 8000} samples, file has 8000"  # not a valid 1 s file
    w.add("duration-header-claims-4h", "duration", w.file("duration/claims-4h.wav", lying), DECODE, message=truncated)
    w.add("duration-header-claims-4h-limit", "duration", w.folder / "duration/claims-4h.wav", DECODE,
          max_duration=3600.0, message=truncated)
    streamed = wav_header(1, 8000, frames=800, data_size=0xFFFFFFFF)  # size unknown, as a live stream writes it
    w.add("duration-unknown-size", "duration", w.file("duration/streamed.wav", streamed), OK, duration=(0.1, 0.1))
    w.add("duration-sparse-4h-limit-1h", "duration", four_hour_wav(w.folder / "duration/four-hours.wav"), TOO_LONG,
          max_duration=3600.0)


def four_hour_wav(path: Path, rate: int = 8000) -> Path:
    """A real 4-hour 8 kHz PCM16 WAV (230 MB) that costs no disk: the silent body is a sparse hole."""
    frames = FOUR_HOURS * rate
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(wav_header(1, rate, frames=0, data_size=frames * 2))
        handle.truncate(44 + frames * 2)
    return path


PATH_NAMES = ("café.wav", "日本語 音声.wav", "emoji 🎧 call.wav", "space in name.wav", " leading space.wav",
              "trailing space .wav", "tab\tname.wav", "new\nline.wav", "quote'\"name.wav", "-dash-first.wav",
              "hash#percent%20.wav", "glob*?[x].wav", "comma,semi;colon.wav", "back\\slash.wav", "ا ل ع ر ب ي ة.wav",
              "x" * 200 + ".wav")


def _paths(w: _Writer) -> None:
    data = encode(_tone(0.3, 16000, seed=6), 16000)
    reference = w.file("paths/reference.wav", data)
    for n, name in enumerate(PATH_NAMES):
        w.add(f"path-{n:02d}", "paths", w.file(f"paths/{name}", data), OK, same_as=str(reference))
    nested = w.file("paths/dir with spaces/ünïcödé/ñ.wav", data)
    w.add("path-nested-unicode-dirs", "paths", nested, OK, same_as=str(reference))
    decomposed = unicodedata.normalize("NFD", "Ångström é.wav")
    w.add("path-nfd-name", "paths", w.file(f"paths/{decomposed}", data), OK, same_as=str(reference))
    w.add("path-file-url", "paths", "file://" + str(reference), OK, same_as=str(reference))
    w.add("path-relative-dots", "paths", str(w.folder / "paths/dir with spaces/../reference.wav"), OK,
          same_as=str(reference))


def _missing(w: _Writer) -> None:
    folder = w.folder / "missing"
    folder.mkdir(parents=True, exist_ok=True)
    w.add("missing-file", "missing", folder / "nope.wav", NOT_FOUND)
    w.add("missing-dir", "missing", folder / "no/such/dir/nope.wav", NOT_FOUND)
    w.add("missing-unicode", "missing", folder / "ñö 文件.wav", NOT_FOUND)
    w.add("missing-file-url", "missing", "file://" + str(folder / "nope.wav"), NOT_FOUND)
    (folder / "a-directory.wav").mkdir(exist_ok=True)
    w.add("missing-is-directory", "missing", folder / "a-directory.wav", NOT_FOUND)
    dangling = folder / "dangling.wav"
    if not dangling.is_symlink():
        dangling.symlink_to(folder / "target-gone.wav")
    w.add("missing-dangling-symlink", "missing", dangling, NOT_FOUND)
    loop = folder / "loop.wav"
    if not loop.is_symlink():
        loop.symlink_to(loop)
    w.add("missing-symlink-loop", "missing", loop, NOT_FOUND)
    regular = w.file("missing/regular.wav", encode(_tone(0.1, 16000), 16000))
    w.add("missing-under-a-file", "missing", str(regular) + "/x.wav", NOT_FOUND)
    w.add("missing-name-too-long", "missing", folder / ("y" * 300 + ".wav"), NOT_FOUND)
    fifo = folder / "fifo.wav"
    if not fifo.exists():
        os.mkfifo(fifo)
    w.add("missing-fifo", "missing", fifo, NOT_FOUND)  # opening it would block forever
    w.add("missing-char-device", "missing", "/dev/zero", NOT_FOUND)  # would never end


def _permissions(w: _Writer, locked_folder: Path) -> None:
    data = encode(_tone(0.2, 16000), 16000)
    locked_folder.mkdir(parents=True, exist_ok=True)
    locked_folder.chmod(0o755)
    unreadable = locked_folder / "unreadable.wav"
    unreadable.write_bytes(data)
    unreadable.chmod(0o000)
    w.add("permissions-file-000", "permissions", unreadable, NOT_FOUND, locked=True)
    closed = locked_folder / "closed-dir"
    closed.mkdir(exist_ok=True)
    (closed / "inside.wav").write_bytes(data)
    closed.chmod(0o000)
    w.add("permissions-dir-000", "permissions", closed / "inside.wav", NOT_FOUND, locked=True)
    link = locked_folder / "link-to-unreadable.wav"
    if not link.is_symlink():
        link.symlink_to(unreadable)
    w.add("permissions-symlink-to-000", "permissions", link, NOT_FOUND, locked=True)


def unlock(locked_folder: Path) -> None:
    """Make the permission cases deletable again."""
    for path in (locked_folder / "closed-dir", locked_folder / "unreadable.wav"):
        if path.exists() or path.is_symlink():
            path.chmod(0o755)


def generate(folder: Path, locked_folder: Path) -> list[Case]:
    """Write the corpus under ``folder`` (permission cases under ``locked_folder``, which must be
    traversable by everyone so that an unprivileged user meets the file's own permissions)."""
    w = _Writer(folder)
    for make in (_empty, _truncated, _wrong_extension, _not_audio, _channels, _sample_rates, _sample_values,
                 _clipped, _silence, _durations, _paths, _missing):
        make(w)
    _permissions(w, locked_folder)
    return w.cases
