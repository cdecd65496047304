"""The last stage of a file, on CPU and without networks: clustering, reconstruction, the labelled result.

Built from an ``EngineConfig`` alone (``Finisher.from_config``), so a batch runner can finish files on
workers that never load a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clustering import Clustering, load_plda, make_clustering, resolve_num_speakers
from .config import ClusteringConfig, EngineConfig
from .reconstruction import diarize_from_clusters
from .result import DiarizationResult
from .result_builder import build_result, empty_result
from .segmentation import speaker_count
from .split_calls import ChannelSegmentation, channel_count, cluster_channels
from .windows import SlidingWindow, Windowed


def build_clustering(settings: ClusteringConfig, telephone: bool = False, mixed: bool = False) -> Clustering:
    """The clustering ``settings`` describe (its PLDA loaded from the folder when there is one), for
    telephone audio when ``telephone``: a one-row recording's when ``mixed``, else a split call's channels'."""
    plda = load_plda(settings.plda) if settings.plda is not None else None
    params = dict(settings.params)
    if telephone:
        params.update({**settings.telephone, **(settings.telephone_mix if mixed else {})})
    return make_clustering(settings.method, params, plda)


@dataclass(frozen=True)
class Finisher:
    """Clustering and reconstruction of one file: segmentations + embeddings -> ``DiarizationResult``."""

    clustering: Clustering
    frames: SlidingWindow  # the segmentation's frames inside a chunk
    embedding_dimension: int
    min_duration_off: float = 0.0
    split_min_duration_off: float = 0.0  # the same within a channel of a split call
    min_talker_seconds: float = 0.0  # a split call's channel: its extra talkers speak at least this long
    telephone_min_duration_off: float | None = None  # a telephone recording's (None: min_duration_off)
    telephone_clustering: Clustering | None = None  # a one-row telephone recording's (None: clustering)
    channel_clustering: Clustering | None = None  # a telephone split call's channels' (None: clustering)

    @classmethod
    def from_config(cls, config: EngineConfig) -> Finisher:
        settings = config.clustering
        telephone = settings.telephone or settings.telephone_mix
        mixed, channel = (build_clustering(settings, telephone=True, mixed=True),
                          build_clustering(settings, telephone=True)) if telephone else (None, None)
        return cls(build_clustering(settings), config.facts.frames, config.facts.embedding_dimension,
                   config.min_duration_off, max(config.min_duration_off, config.split.min_duration_off),
                   config.split.min_talker_seconds, config.telephone_min_duration_off, mixed, channel)

    def __call__(self, uri: str, duration: float, segmentations: Windowed, embeddings: np.ndarray | None,
                 num_speakers: int | None = None, min_speakers: int | None = None,
                 max_speakers: int | None = None, telephone: bool = False) -> DiarizationResult:
        """The result of one file from its (num_chunks, num_frames, 3) binarized segmentations and
        (num_chunks, 3, dimension) embeddings (None when nobody speaks); ``telephone``: the file is telephone
        audio (``Audio.telephone``) and gets the telephone settings."""
        num_speakers, min_speakers, max_speakers = resolve_num_speakers(num_speakers, min_speakers,
                                                                        max_speakers)
        count = speaker_count(segmentations, self.frames)
        if embeddings is None or np.nanmax(count.data, initial=0) == 0:
            return empty_result(uri, duration, self.embedding_dimension)
        min_duration_off = self.gap_filling(telephone)
        split = isinstance(segmentations, ChannelSegmentation)
        clustering = self.clustering_for(telephone, split)
        if split:  # a split call: clustered channel by channel
            min_duration_off = self.split_min_duration_off
            hard_clusters, centroids, owners = cluster_channels(
                clustering, embeddings, segmentations, num_speakers=num_speakers,
                min_speakers=min_speakers, max_speakers=max_speakers, min_talker_seconds=self.min_talker_seconds)
            count = channel_count(segmentations, owners, self.frames)
        else:
            hard_clusters, _, centroids = clustering.cluster(
                embeddings, segmentations.data, num_clusters=num_speakers, min_clusters=min_speakers,
                max_clusters=max_speakers)
            owners = None
        # the exclusive turns keep the model set's gap filling: filling one talker's gap around another's
        # turn would put two speakers at once
        turns, exclusive = diarize_from_clusters(segmentations, hard_clusters, count, max_speakers,
                                                 min_duration_off=min_duration_off,
                                                 exclusive_min_duration_off=self.min_duration_off)
        return build_result(uri, duration, turns, exclusive, centroids, owners)

    def clustering_for(self, telephone: bool, split: bool = False) -> Clustering:
        """The clustering of a file (of each channel when ``split``), telephone audio's when ``telephone``."""
        chosen = self.channel_clustering if split else self.telephone_clustering
        if telephone and chosen is not None:
            return chosen
        return self.clustering

    def gap_filling(self, telephone: bool) -> float:
        """Same-speaker gaps shorter than this are filled in a file (telephone audio when ``telephone``)."""
        if telephone and self.telephone_min_duration_off is not None:
            return self.telephone_min_duration_off
        return self.min_duration_off
