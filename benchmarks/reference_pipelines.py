"""The reference pipeline (pyannote.audio 4.0.7's ``SpeakerDiarization``) on either of our model sets.

Imported only by interpreters that have pyannote.audio (the side venv of ``shared/tools/reference-env.sh``):

* ``community1_pipeline(folder)``: community-1 as ``shared/tools/reference-diarize.py`` configures it from
  the folder's ``config.yaml`` (segmentation, WeSpeaker ResNet34 in ``embedding/``, PLDA + VBx);
* ``default_set_pipeline(folder)``: the same pipeline class on our default set, i.e. the checkpoints
  ``diarize file`` uses: segmentation-3.0 and the CAM++ network, pyannote's ``AgglomerativeClustering``
  with our default-set hyper-parameters (``diarization.config.DEFAULT_AGGLOMERATIVE``) and community-1's
  constrained assignment. pyannote.audio has no CAM++ class, so ``CAMPPlusAsPyannoteModel`` hands it our
  CAM++ module (fbank + network + masked statistics pooling, loaded from the published state dict) as a
  pyannote ``Model``: the reference then embeds every (chunk, speaker) pair with its own code, exactly as
  it does its WeSpeaker model. Everything around that network call (sliding windows, batching, masks and
  overlap exclusion, clustering, reconstruction) is pyannote's.

Our ``exact`` mode on the default set is meant to give the same speaker turns as ``default_set_pipeline``
(tests/golden/pipeline_default holds its RTTMs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from pyannote.audio import Model
from pyannote.audio.pipelines import SpeakerDiarization

from diarization.models.campplus import load_campplus  # (imports torch only)

SEGMENTATION = "segmentation-3.0/pytorch_model.bin"
CAMPPLUS = "campplus-sv-zh-en-common/campplus_cn_en_common.pt"
# our default-set hyper-parameters, spelled out: the venv that runs this cannot import diarization.pipeline
# (no soxr there). tests/golden/pipeline_default records them, and its test checks they are still ours.
DEFAULT_SET_PARAMS: dict[str, Any] = {
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {"method": "centroid", "min_cluster_size": 12, "threshold": 0.75},
}
BATCH_SIZE = 32  # community-1's segmentation and embedding batch sizes


class CAMPPlusAsPyannoteModel(Model):
    """Our CAM++ network behind pyannote's ``Model`` interface: ``forward(waveforms, weights=None)``."""

    def __init__(self, checkpoint: str | Path) -> None:
        super().__init__(sample_rate=16000, num_channels=1)
        self.network = load_campplus(checkpoint)

    @property
    def dimension(self) -> int:
        return int(self.network.dimension)

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return self.network(waveforms, weights)


def community1_pipeline(folder: str | Path) -> SpeakerDiarization:
    """pyannote's community-1 pipeline from a community-1 folder (with ``embedding/pytorch_model.bin``)."""
    root = Path(folder)
    config = yaml.safe_load((root / "config.yaml").read_text())
    params = config["pipeline"]["params"]
    pipeline = SpeakerDiarization(
        segmentation=Model.from_pretrained(str(root / "segmentation" / "pytorch_model.bin")),
        embedding=Model.from_pretrained(str(root / "embedding" / "pytorch_model.bin")),
        plda={"checkpoint": str(root), "subfolder": "plda"},
        clustering=params["clustering"],
        embedding_exclude_overlap=params["embedding_exclude_overlap"],
        segmentation_batch_size=params["segmentation_batch_size"],
        embedding_batch_size=params["embedding_batch_size"],
    )
    pipeline.instantiate(config["params"])
    return pipeline


def default_set_pipeline(
    folder: str | Path, plda_folder: str | Path, constrained: bool = True
) -> SpeakerDiarization:
    """pyannote's pipeline on our default set (``folder`` holds segmentation-3.0/ and the CAM++ folder).

    ``plda_folder``: any community-1 folder; pyannote loads a PLDA whatever the clustering, and
    agglomerative clustering never uses it. ``constrained``: one-to-one (Hungarian) assignment of each
    chunk's speakers to clusters, as community-1 and our clustering assign; False: pyannote's default for
    ``AgglomerativeClustering``, each speaker to its closest centroid.

    One known difference from ours remains with ``constrained``: pyannote's ``AgglomerativeClustering``
    (unlike its ``VBxClustering``, which community-1 uses) lets the speakers silent in a chunk take part in
    the matching, with the embedding its network gives an all-zero mask (the same vector for all of them),
    so on rare chunks a silent speaker takes an active one's cluster. Ours scores silent speakers below
    every cluster, as community-1's VBx does.
    """
    root = Path(folder)
    pipeline = SpeakerDiarization(
        segmentation=Model.from_pretrained(str(root / SEGMENTATION)),
        embedding=CAMPPlusAsPyannoteModel(root / CAMPPLUS).eval(),
        plda={"checkpoint": str(plda_folder), "subfolder": "plda"},
        clustering="AgglomerativeClustering",
        embedding_exclude_overlap=True,
        segmentation_batch_size=BATCH_SIZE,
        embedding_batch_size=BATCH_SIZE,
    )
    pipeline.instantiate(DEFAULT_SET_PARAMS)
    pipeline.clustering.constrained_assignment = constrained
    return pipeline
