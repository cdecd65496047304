"""Audio in: any path, fsspec URL, bytes or in-memory waveform -> mono float32 at 16 kHz.

Decoding is libsndfile (WAV PCM/float/mu-law/A-law, FLAC, OGG Vorbis/Opus, MP3, ...) through
soundfile, block by block; channels are averaged and each block is resampled with a streaming soxr
resampler, so peak memory is about the size of the 16 kHz output whatever the input's rate or channel
count (blocks hold at most ``BLOCK_SAMPLES`` samples). Long local files at the models' rate or with
several channels are decoded by several threads at once (``parallel_decode``, at the file's own rate),
then resampled here as the block decoder resamples. Every failure is a typed ``AudioError`` that names
the source and the reason: an I/O error while reading (e.g. an object deleted after it was listed) is
reported as such, not as a corrupt file; samples must pass ``samples.sample_problem``. A WAV whose data
ends before its header says is refused before decoding (``riff``); opening inputs is ``storage``'s, and
libmpg123's stderr notes are filtered out around MP3 decoding (``quiet``).
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
import soundfile as sf
import soxr
import torch

from .arrays import as_float, channels_first
from .band import is_telephone
from .errors import (
    AudioDecodeError,
    AudioError,
    AudioNotFoundError,
    AudioReadError,
    AudioTooLongError,
    InvalidAudioError,
)
from .locations import local_path
from .parallel_decode import MIN_RANGE_SECONDS, decode_ranges, ranged_file
from .quiet import decoder_chatter_filtered
from .riff import stream_truncation
from .samples import sample_problem
from .storage import is_transient, open_input  # noqa: F401 - is_transient: re-exported
from .tones import Tones

SAMPLE_RATE = 16000
MIN_SAMPLE_RATE = 4000  # below this there is no speech band left to diarize
MAX_SAMPLE_RATE = 768000
BLOCK_SECONDS = 30.0
BLOCK_SAMPLES = 2**21  # at most this many samples (frames x channels) per decoded block: 8 MB of float32

AudioInput = Union[str, os.PathLike, bytes, bytearray, IO[bytes], Mapping[str, Any], "Audio"]


@dataclass
class Audio:
    """A decoded waveform ready for the models: mono, or one row per channel of a call diarized channel by
    channel (``diarization.channels``)."""

    waveform: torch.Tensor  # (1, num_samples) float32; (num_channels, num_samples) for a split call
    sample_rate: int
    uri: str
    source_sample_rate: int
    source_channels: int
    channel_mode: str = "mix"  # "mix" (channels averaged), "channel" (one picked) or "split"
    tones: Tones | None = None  # where each row holds a tone (``diarization.tones``); None: not looked for

    @property
    def num_samples(self) -> int:
        return int(self.waveform.shape[-1])

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate

    @cached_property
    def telephone(self) -> bool:
        """Telephone audio (``diarization.band``): recorded at 8 kHz or less, or nothing above 4 kHz in it."""
        return is_telephone(self.source_sample_rate, self.waveform.detach().cpu().numpy(), self.sample_rate)


def describe(source: AudioInput) -> str:
    """A short human name for an audio input, used in error messages and as default uri."""
    if isinstance(source, Audio):
        return source.uri
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, Mapping):
        return str(source.get("uri", "<waveform>"))
    if isinstance(source, (bytes, bytearray)):
        return "<bytes>"
    return str(getattr(source, "name", "<stream>"))


def uri_of(source: AudioInput) -> str:
    """The file's stem, as pyannote names a file ('calls/a.wav' -> 'a')."""
    name = describe(source)
    if isinstance(source, Mapping) or name.startswith("<"):
        return name
    return Path(name.rstrip("/").split("/")[-1]).stem or name


def load_audio(
    source: AudioInput,
    sample_rate: int = SAMPLE_RATE,
    max_duration: float | None = None,
    channel: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    workers: int | None = None,
    keep_channels: bool = False,
) -> Audio:
    """Decode ``source`` into a mono ``Audio`` at ``sample_rate``. A mapping is an in-memory waveform
    ``{"waveform", "sample_rate"[, "uri"]}`` or pyannote's file dict ``{"audio": path[, "uri", "channel"]}``.

    ``channel`` selects one channel instead of averaging them all (e.g. one party of a stereo call).
    ``max_duration`` (seconds) raises ``AudioTooLongError`` before decoding a longer file.
    ``workers`` threads (default: torch's intra-op thread count, which follows ``OMP_NUM_THREADS``)
    decode long local files in ranges at once; the result is the same. ``keep_channels`` returns every
    channel as its own row instead of their average.
    """
    if isinstance(source, Audio):
        return source if source.sample_rate == sample_rate else _from_array(
            source.waveform.numpy(), source.sample_rate, source.uri, sample_rate, max_duration, channel,
            keep_channels)
    name = describe(source)
    uri = uri_of(source)
    if isinstance(source, Mapping) and "waveform" not in source and "audio" in source:  # pyannote's file dict
        picked = channel if channel is not None else source.get("channel")
        audio = load_audio(source["audio"], sample_rate, max_duration, picked, storage_options, workers,
                           keep_channels and picked is None)
        return dataclasses.replace(audio, uri=str(source["uri"])) if source.get("uri") else audio
    if isinstance(source, Mapping):
        if "waveform" not in source or "sample_rate" not in source:
            raise InvalidAudioError(name, "an in-memory input needs 'waveform' and 'sample_rate'")
        waveform = source["waveform"]
        data = waveform.detach().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
        return _from_array(data, source["sample_rate"], uri, sample_rate, max_duration, channel, keep_channels)
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise AudioDecodeError(name, "empty input (0 bytes)")
        return _decode(_whole(io.BytesIO(source), name), name, uri, sample_rate, max_duration, channel,
                       keep_channels)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open_input(path, storage_options) as stream:
            _whole(stream, name)
            local = local_path(path)
            if local is not None:
                decoded = decode_in_ranges(local, sample_rate, channel, max_duration,
                                           torch.get_num_threads() if workers is None else workers,
                                           keep_channels=keep_channels)
                if decoded is not None:
                    return decoded
            return _decode(stream, name, uri, sample_rate, max_duration, channel, keep_channels)
    return _decode(_whole(source, name), name, uri, sample_rate, max_duration, channel, keep_channels)


def _whole(stream: IO[bytes], name: str) -> IO[bytes]:
    """``stream``, after checking that a WAV holds all the data its header announces (``riff``)."""
    problem = stream_truncation(stream)
    if problem is not None:
        raise AudioDecodeError(name, problem)
    return stream


def decode_in_ranges(path: str, rate: int, channel: int | None, max_duration: float | None, workers: int,
                     min_range_seconds: float = MIN_RANGE_SECONDS, keep_channels: bool = False) -> Audio | None:
    """The local file ``path`` decoded by ``workers`` threads (``parallel_decode``) and resampled to
    ``rate``: the block decoder's waveform, or None where the block decoder must do it. Files above
    ``rate`` (a buffer larger than the output) and mono files below it (their time goes to the resampler,
    which cannot be split exactly) are left to it, as are files longer than ``max_duration`` and files whose
    several channels are to be kept apart."""
    if workers < 2:
        return None
    file = ranged_file(path, min_range_seconds)
    if file is None or file.sample_rate > rate or (file.sample_rate < rate and file.channels == 1):
        return None
    if keep_channels and file.channels > 1:
        return None
    if max_duration is not None and file.seconds > max_duration:
        return None
    samples = decode_ranges(file, channel, workers, min_range_seconds)
    if samples is None:
        return None
    if file.sample_rate != rate:
        samples = _resample_in_blocks(samples, file.sample_rate, file.channels, rate)
    return Audio(torch.from_numpy(samples)[None], rate, uri_of(path), file.sample_rate, file.channels,
                 _mode_of(channel, False))


def _block_frames(source_rate: int, channels: int) -> int:
    """Frames per block of the sequential decoder (the resampler's input blocks)."""
    return max(1, min(int(BLOCK_SECONDS * source_rate), BLOCK_SAMPLES // channels))


def _resampler(source_rate: int, rate: int, channels: int = 1) -> soxr.ResampleStream:
    return soxr.ResampleStream(source_rate, rate, channels, dtype="float32", quality="HQ")


def _resample_in_blocks(mono: np.ndarray, source_rate: int, channels: int, rate: int) -> np.ndarray:
    """A whole mono waveform resampled as the sequential decoder resamples a file of ``channels``
    channels: the same streaming resampler fed the same blocks, so the output is the same."""
    resampler = _resampler(source_rate, rate)
    step = _block_frames(source_rate, channels)
    pieces = [resampler.resample_chunk(mono[start:start + step]) for start in range(0, len(mono), step)]
    pieces.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return np.concatenate(pieces)


class _Reader:
    """A read-only stream for libsndfile that records the first I/O error instead of letting it vanish
    inside libsndfile's callbacks (where it would read as "not audio" or "truncated")."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.error: BaseException | None = None
        self.name = getattr(raw, "name", "<stream>")

    def _failed(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error

    def read(self, size: int = -1) -> bytes:
        try:
            return self.raw.read(size)
        except Exception as error:  # noqa: BLE001 - any failure of the underlying stream
            self._failed(error)
            return b""

    def readinto(self, buffer: Any) -> int:
        if hasattr(self.raw, "readinto"):  # local files: no intermediate copy
            try:
                return self.raw.readinto(buffer) or 0
            except Exception as error:  # noqa: BLE001
                self._failed(error)
                return 0
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self.raw.seek(offset, whence)
        except Exception as error:  # noqa: BLE001
            self._failed(error)
            return self.tell()

    def tell(self) -> int:
        try:
            return self.raw.tell()
        except Exception as error:  # noqa: BLE001
            self._failed(error)
            return 0

    def raise_io_error(self, name: str) -> None:
        """Raise the typed error for a recorded I/O failure, if any."""
        error = self.error
        if error is None:
            return
        if isinstance(error, FileNotFoundError):
            raise AudioNotFoundError(name, "disappeared while it was being read") from error
        if isinstance(error, PermissionError):
            raise AudioNotFoundError(name, f"permission denied while reading ({error})") from error
        raise AudioReadError(name, f"read failed ({type(error).__name__}: {error})") from error


def _check_rate(name: str, rate: Any) -> int:
    try:
        value = int(rate)
    except (TypeError, ValueError):
        raise InvalidAudioError(name, f"sample rate {rate!r} is not a number") from None
    if value != rate or not MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
        raise InvalidAudioError(
            name, f"sample rate {rate} Hz is outside the supported {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    return value


def _check_duration(name: str, num_frames: int, rate: int, max_duration: float | None) -> None:
    if max_duration is not None and num_frames / rate > max_duration:
        raise AudioTooLongError(
            name, f"{num_frames / rate / 3600:.2f} h is longer than the {max_duration / 3600:.2f} h limit")


def _mono_block(block: np.ndarray, name: str, channel: int | None, keep_channels: bool = False) -> np.ndarray:
    """One block (frames, channels) as mono float32 (or float32 (frames, channels) with ``keep_channels``),
    after checking its values are usable."""
    if block.ndim == 1:
        block = block[:, None]
    if channel is not None:
        if not 0 <= channel < block.shape[1]:
            raise InvalidAudioError(name, f"channel {channel} requested but the audio has {block.shape[1]}")
        block = block[:, channel:channel + 1]
    problem = sample_problem(block)
    if problem is not None:
        raise InvalidAudioError(name, problem)
    if keep_channels:
        return np.ascontiguousarray(block, dtype=np.float32)
    mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
    return mono.astype(np.float32, copy=False)


def _decode(raw: IO[bytes], name: str, uri: str, rate: int, max_duration: float | None,
            channel: int | None, keep_channels: bool = False) -> Audio:
    stream = _Reader(raw)
    try:
        with decoder_chatter_filtered():
            sound = sf.SoundFile(stream)
    except sf.LibsndfileError as error:
        stream.raise_io_error(name)
        raise AudioDecodeError(name, f"not a readable audio file ({error.error_string})") from error
    except (RuntimeError, TypeError, ValueError, EOFError) as error:
        stream.raise_io_error(name)
        raise AudioDecodeError(name, f"not a readable audio file ({error})") from error
    with sound:
        if sound.channels < 1:
            raise InvalidAudioError(name, "audio has no channels")
        source_rate = _check_rate(name, sound.samplerate)
        frames = sound.frames
        if frames <= 0 and sound.format not in ("MP3", "OGG"):
            raise InvalidAudioError(name, "audio has no samples")
        if 0 < frames < 2**62:
            _check_duration(name, frames, source_rate, max_duration)
        rows = sound.channels if keep_channels else 1
        resampler = _resampler(source_rate, rate, rows) if source_rate != rate else None
        pieces: list[np.ndarray] = []
        decoded = 0
        block_frames = _block_frames(source_rate, sound.channels)
        quiet = decoder_chatter_filtered if sound.format == "MP3" else nullcontext
        try:
            while True:
                with quiet():
                    block = sound.read(block_frames, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                decoded += len(block)
                _check_duration(name, decoded, source_rate, max_duration)
                mono = _mono_block(block, name, channel, keep_channels)
                pieces.append(resampler.resample_chunk(mono) if resampler else mono)
        except sf.LibsndfileError as error:
            stream.raise_io_error(name)
            raise AudioDecodeError(name, f"corrupt or truncated audio ({error.error_string})") from error
        except AudioError:
            raise
        except (RuntimeError, ValueError, EOFError) as error:
            stream.raise_io_error(name)
            raise AudioDecodeError(name, f"corrupt or truncated audio ({error})") from error
        stream.raise_io_error(name)  # a read that failed midway looks like a short file to libsndfile
        if resampler is not None:
            pieces.append(resampler.resample_chunk(np.zeros((0, rows) if keep_channels else 0, np.float32), last=True))
        channels = sound.channels
    if decoded == 0:
        raise InvalidAudioError(name, "audio has no samples")
    waveform = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    rows_first = waveform.T if keep_channels else waveform[None]
    return Audio(torch.from_numpy(np.ascontiguousarray(rows_first)), rate, uri, source_rate, channels,
                 _mode_of(channel, keep_channels))


def _mode_of(channel: int | None, keep_channels: bool) -> str:
    """What the decoded rows are: every channel ("split"), the picked one ("channel") or the average."""
    return "split" if keep_channels else "mix" if channel is None else "channel"


def _from_array(data: np.ndarray, source_rate: Any, uri: str, rate: int, max_duration: float | None,
                channel: int | None, keep_channels: bool = False) -> Audio:
    name = uri
    source_rate = _check_rate(name, source_rate)
    data = channels_first(data, name)
    if data.shape[0] == 0:
        raise InvalidAudioError(name, "audio has no channels")
    if data.shape[1] == 0:
        raise InvalidAudioError(name, "audio has no samples")
    data = as_float(data, name)
    _check_duration(name, data.shape[1], source_rate, max_duration)
    mono = _mono_block(np.asarray(data, dtype=np.float32).T, name, channel, keep_channels)
    if source_rate != rate:
        mono = soxr.resample(mono, source_rate, rate, quality="HQ").astype(np.float32, copy=False)
    rows_first = mono.T if keep_channels else mono[None]
    return Audio(torch.from_numpy(np.ascontiguousarray(rows_first)), rate, uri, source_rate, data.shape[0],
                 _mode_of(channel, keep_channels))
