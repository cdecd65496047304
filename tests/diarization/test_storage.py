"""Opening remote inputs: an unreachable store is a read error (retried), S3 without credentials its own
error (not retried), a missing object not found; against a real moto S3 server and a refused port."""

from __future__ import annotations

import io
import socket
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from diarization.audio import load_audio
from diarization.errors import AudioCredentialsError, AudioNotFoundError, AudioReadError
from diarization.storage import open_error

AMBIENT_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                       "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")


def refused_port() -> int:
    """A local port nobody listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(1600, np.float32), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No AWS credentials anywhere botocore looks (environment, config files, instance metadata)."""
    for name in AMBIENT_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/x.wav", "http://127.0.0.1:9/x.wav"])
def test_a_refused_http_connection_is_a_read_error(url: str) -> None:
    url = url.format(port=refused_port())
    with pytest.raises(AudioReadError, match=f"^{url}: storage unreachable .*Connect") as caught:
        load_audio(url)
    assert caught.value.code == "read_error"


def test_an_unreachable_s3_endpoint_is_a_read_error() -> None:
    options = {"key": "k", "secret": "s", "skip_instance_cache": True,
               "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{refused_port()}", "region_name": "us-east-1"},
               "config_kwargs": {"retries": {"max_attempts": 1}}}
    with pytest.raises(AudioReadError, match="^s3://bucket/x.wav: storage unreachable"):
        load_audio("s3://bucket/x.wav", storage_options=options)


def test_s3_without_credentials_says_so(s3_bucket: str, s3_options: dict[str, Any],
                                        no_ambient_credentials: None) -> None:
    import s3fs

    s3fs.S3FileSystem(**s3_options, skip_instance_cache=True).pipe(f"{s3_bucket}/call.wav", wav())
    anonymous_client = {"client_kwargs": s3_options["client_kwargs"], "skip_instance_cache": True}
    for key in ("call.wav", "missing.wav"):  # whether or not the object exists: nothing could be asked
        with pytest.raises(AudioCredentialsError, match=f"^{s3_bucket}/{key}: no credentials found") as caught:
            load_audio(f"{s3_bucket}/{key}", storage_options=anonymous_client)
        assert caught.value.code == "no_credentials" and not isinstance(caught.value, AudioReadError)
    audio = load_audio(f"{s3_bucket}/call.wav", storage_options={**s3_options, "skip_instance_cache": True})
    assert audio.num_samples == 1600  # with credentials the same object reads


def test_a_missing_object_stays_not_found(s3_bucket: str, s3_options: dict[str, Any], moto_endpoint: str) -> None:
    with pytest.raises(AudioNotFoundError, match="no such object"):
        load_audio(f"{s3_bucket}/gone.wav", storage_options=s3_options)
    with pytest.raises(AudioNotFoundError, match="no such object"):  # a 404 over plain HTTP
        load_audio(f"{moto_endpoint}/no/such/file.wav")


def test_open_error_follows_the_chain_of_causes() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except ConnectionRefusedError as refused:
            raise FileNotFoundError("http://h/x.wav") from refused  # what fsspec's HTTP file system raises
    except FileNotFoundError as error:
        assert isinstance(open_error("http://h/x.wav", error), AudioReadError)
    try:
        try:
            raise ConnectionRefusedError(111, "old")
        except ConnectionRefusedError:
            raise FileNotFoundError("s3://b/x.wav") from None  # context suppressed: a plain missing object
    except FileNotFoundError as error:
        assert isinstance(open_error("s3://b/x.wav", error), AudioNotFoundError)
