"""The resume key: computed from the configuration without networks, and the same string as before the
configuration object existed (existing Parquet outputs are resumed by it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from diarization.config import engine_config
from diarization.fingerprint import fingerprint, model_versions
from diarization.pipeline import Pipeline

# the fingerprints of diarize 0.10.0 on the default set (sha256-pinned files, diarization.pretrained.SHA256);
# change them only together with diarization.__version__, knowingly breaking resumes (0.3.0: fast
# e1fac7a6174f3b6b, exact b27e1a2f9bf51a90; 0.4.0 clusters runs in fast mode, which changes its outputs:
# fast 99b0a34d1be42020, exact eba1323078278c8d; 0.5.0: fast mode's clustering uses average linkage and
# keeps distinct small clusters, and a stereo call is split by channel (channel mode auto; exact mode mixes as
# the reference); exact mode's outputs unchanged, its clustering's repr has two new fields: fast 8af7c387ba981f67,
# exact 15f57f575d0b7c9b; 0.6.0: split calls keep short backchannels and merge a channel's brief talkers,
# fast mode bridges a telephone recording's short pauses; exact mode's outputs unchanged: fast 30ec6ee2f485e36d,
# exact 57994c38a445e7b8; 0.7.0: fast mode silences tones on telephone recordings; exact mode's outputs
# unchanged: fast a2e21656c514f539, exact 905425a4ea06b52e; 0.8.0: fast mode centres embeddings before
# clustering, and telephone audio keeps a small cluster only with two training embeddings; exact mode's
# outputs unchanged, its clustering's repr has two new fields: fast 8c0a006f97d070c2, exact 7d7a4d02220b20ab;
# 0.9.0: a split call's channels have their tone runs silenced as mono telephone calls do, and a one-row
# telephone recording is clustered with a cut of 0.45, shorter training runs and small clusters kept
# from 0.5; exact mode's outputs unchanged: fast 4a4a230142bdc45a, exact 938b92b1604a3489; 0.10.0: telephone
# audio is told by its band as well as by the file's rate, so a phone call stored at 16 kHz takes the
# telephone path; exact mode's outputs unchanged)
DEFAULT_SET_FINGERPRINTS = {"fast": "308ba10a5b4c3261", "exact": "fba8f13381fb712f"}


@pytest.mark.parametrize("mode", list(DEFAULT_SET_FINGERPRINTS))
def test_default_set_fingerprint_is_unchanged(mode: str, models_dir: Path) -> None:
    assert fingerprint(engine_config(models_dir, mode=mode)) == DEFAULT_SET_FINGERPRINTS[mode]


def test_only_output_settings_count(models_dir: Path) -> None:
    config = engine_config(models_dir)
    same = engine_config(models_dir, segmentation_batch_size=8, embedding_batch_size=4, device="cpu")
    assert fingerprint(same) == fingerprint(config)
    assert fingerprint(engine_config(models_dir, step=1.5)) != fingerprint(config)
    assert model_versions(config) == {"models": "default", "segmentation": "segmentation-3.0",
                                      "embedding": "campplus-sv-zh-en-common",
                                      "clustering": "AgglomerativeClustering", "mode": "fast"}


def test_pipeline_fingerprint_is_the_configs(models_dir: Path) -> None:
    config = engine_config(models_dir, mode="exact", device="cpu")
    pipeline = Pipeline(config)
    assert pipeline.fingerprint == fingerprint(config) and pipeline.versions == model_versions(config)


def test_no_network_is_built(models_dir: Path) -> None:
    """Config, fingerprint and versions in a fresh process: no torch module is ever constructed."""
    script = f"""
import json, torch
built = []
init = torch.nn.Module.__init__
def counting(self, *args, **kwargs):
    built.append(type(self).__name__)
    init(self, *args, **kwargs)
torch.nn.Module.__init__ = counting
from diarization.config import engine_config
from diarization.fingerprint import fingerprint, model_versions
config = engine_config({str(models_dir)!r})
print(json.dumps({{"fingerprint": fingerprint(config), "versions": model_versions(config), "built": built}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["built"] == [] and out["fingerprint"] == DEFAULT_SET_FINGERPRINTS["fast"]
