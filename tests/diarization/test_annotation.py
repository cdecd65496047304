"""``output.speaker_diarization`` behaves like a pyannote.core ``Annotation``: each call gives what the same
call gives on ``to_annotation()`` (a real one), and pyannote.metrics scores it directly; the pipeline takes
pyannote's ``{"audio": path}`` and ``return_embeddings=True``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from diarization.annotation import Diarization, Turn


def tracks(annotation) -> list[tuple[float, float, object, str]]:
    return [(s.start, s.end, t, label) for s, t, label in annotation.itertracks(yield_label=True)]


def turns(annotation) -> list[tuple[float, float, str]]:
    """(start, end, label) in time order: tracks aside (ours are always the label's index)."""
    return [(s.start, s.end, label) for s, label in annotation]


@pytest.fixture
def ours() -> Diarization:
    """Overlapping speech, a speaker with two turns close together, labels out of order."""
    return Diarization("call", [(Turn(0.5, 3.0), "SPEAKER_01"), (Turn(2.5, 4.0), "SPEAKER_00"),
                                (Turn(4.1, 6.0), "SPEAKER_00"), (Turn(6.5, 9.25), "SPEAKER_02"),
                                (Turn(7.0, 8.0), "SPEAKER_01")])


@pytest.fixture
def reference() -> Annotation:
    annotation = Annotation(uri="call")
    for (start, end), label in (((0.0, 3.0), "alice"), ((3.0, 6.0), "bob"), ((6.0, 9.0), "carol")):
        annotation[Segment(start, end)] = label
    return annotation


def test_to_annotation_is_a_real_annotation_with_the_same_turns(ours: Diarization) -> None:
    real = ours.to_annotation()
    assert isinstance(real, Annotation) and real.uri == "call" and len(real) == len(ours) == 5
    assert tracks(real) == [(t.start, t.end, k, s) for t, k, s in ours.itertracks(yield_label=True)]
    assert [(t.start, t.end, k) for t, k in ours.itertracks()] == [(s.start, s.end, k) for s, k in real.itertracks()]
    assert [(t.start, t.end, s) for t, s in ours] == [(s.start, s.end, label) for s, label in real]
    assert [(t.start, t.end) for t in ours.itersegments()] == [(s.start, s.end) for s in real.itersegments()]


def test_plain_value_calls_match_pyannote(ours: Diarization) -> None:
    real = ours.to_annotation()
    assert ours.labels() == real.labels() == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]
    for label in ours.labels():
        assert ours.label_duration(label) == pytest.approx(real.label_duration(label))
    assert ours.chart() == pytest.approx(real.chart())
    assert [label for label, _ in ours.chart(percent=True)] == [label for label, _ in real.chart(percent=True)]
    assert bool(ours) and not Diarization("x")
    for mapping, generator in ((None, "string"), (None, "int"), ({"SPEAKER_00": "agent"}, "string")):
        renamed = ours.rename_labels(mapping, generator=generator)
        assert turns(renamed) == turns(real.rename_labels(mapping, generator=generator))
    assert ours.labels()[0] == "SPEAKER_00"  # copy=True left it alone
    assert turns(ours.subset(["SPEAKER_01"])) == turns(real.subset(["SPEAKER_01"]))
    assert turns(ours.subset(["SPEAKER_01"], invert=True)) == turns(real.subset(["SPEAKER_01"], invert=True))


def test_structure_calls_return_what_pyannote_returns(ours: Diarization) -> None:
    real = ours.to_annotation()
    timeline = ours.get_timeline()
    assert isinstance(timeline, Timeline) and list(timeline) == list(real.get_timeline())
    assert ours.get_timeline().support() == real.get_timeline().support()
    assert tracks(ours.support()) == tracks(real.support())
    assert tracks(ours.support(collar=0.5)) == tracks(real.support(collar=0.5))
    assert len(ours.support(collar=0.5).label_timeline("SPEAKER_00")) == 1  # 4.0-4.1 s bridged
    window = Segment(2.0, 7.5)
    assert tracks(ours.crop(window)) == tracks(real.crop(window))
    assert tracks(ours.crop(Timeline([window]), mode="strict")) == tracks(real.crop(Timeline([window]), mode="strict"))
    assert list(ours.label_timeline("SPEAKER_00")) == [Segment(2.5, 4.0), Segment(4.1, 6.0)]
    assert ours.argmax() == real.argmax() and list(ours.get_overlap()) == list(real.get_overlap())
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        ours.nonsense  # noqa: B018


def test_write_rttm_and_for_json(ours: Diarization, tmp_path: Path) -> None:
    theirs, mine = io.StringIO(), io.StringIO()
    ours.to_annotation().write_rttm(theirs)
    ours.write_rttm(mine)
    assert mine.getvalue() == theirs.getvalue() == ours.to_rttm()
    ours.write_rttm(tmp_path / "call.rttm")
    assert (tmp_path / "call.rttm").read_text() == theirs.getvalue()
    data = json.loads(json.dumps(ours.for_json()))
    assert data["pyannote"] == "Annotation" and data["uri"] == "call" and data["modality"] == "speaker"
    assert data["content"][0] == {"segment": {"start": 0.5, "end": 3.0}, "track": 1, "label": "SPEAKER_01"}
    rebuilt = Annotation(uri=data["uri"])
    for item in data["content"]:
        rebuilt[Segment(**item["segment"]), item["track"]] = item["label"]
    assert rebuilt == ours.to_annotation()


def test_diarization_error_rate_takes_it_directly(ours: Diarization, reference: Annotation) -> None:
    expected = DiarizationErrorRate()(reference, ours.to_annotation())
    assert DiarizationErrorRate()(reference, ours) == pytest.approx(expected)
    assert 0.0 < expected < 1.0
    uem = Timeline([Segment(0.0, 8.0)])
    assert DiarizationErrorRate(collar=0.5)(reference, ours, uem=uem) == pytest.approx(
        DiarizationErrorRate(collar=0.5)(reference, ours.to_annotation(), uem=uem))
    metric = DiarizationErrorRate()
    metric(ours, ours)  # as the reference too
    assert abs(metric) == 0.0


def test_whisperx_dataframe_idiom(ours: Diarization) -> None:
    import pandas as pd

    frame = pd.DataFrame(ours.itertracks(yield_label=True), columns=["segment", "label", "speaker"])
    frame["start"] = frame["segment"].apply(lambda x: x.start)
    frame["end"] = frame["segment"].apply(lambda x: x.end)
    assert len(frame) == 5 and list(frame["speaker"]) == [s for _, s in ours]
    assert frame[["start", "end"]].values.tolist() == [[t.start, t.end] for t, _ in ours]


# -- through the pipeline ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(dev_dir: Path) -> Path:
    return dev_dir / "pyannote_sample" / "sample.wav"


@pytest.fixture(scope="module")
def output(models_dir: Path, sample: Path):
    from diarization.pipeline import Pipeline

    pipeline = Pipeline.from_pretrained(models_dir, device="cpu")
    return pipeline, pipeline(sample)


def test_pyannote_file_dict_and_return_embeddings(output, sample: Path) -> None:
    pipeline, result = output
    from_dict = pipeline({"audio": str(sample), "uri": "meeting-7"})
    assert from_dict.uri == "meeting-7"
    assert from_dict.speaker_diarization.tracks == result.speaker_diarization.tracks
    diarization, embeddings = pipeline({"audio": sample}, return_embeddings=True)
    assert isinstance(diarization, Diarization) and diarization.uri == "sample"
    assert diarization.tracks == result.speaker_diarization.tracks
    assert embeddings.shape[0] == len(diarization.labels()) >= 2
    np.testing.assert_allclose(embeddings, result.speaker_embeddings, rtol=1e-5, atol=1e-6)


def test_real_output_scores_like_its_annotation(output, sample: Path) -> None:
    from pyannote.database.util import load_rttm

    _, result = output
    reference = load_rttm(sample.with_suffix(".rttm"))["sample"]
    for diarization in (result.speaker_diarization, result.exclusive_speaker_diarization):
        der = DiarizationErrorRate()(reference, diarization)
        assert der == pytest.approx(DiarizationErrorRate()(reference, diarization.to_annotation()))
        assert der < 0.2


def test_without_pyannote_core_plain_calls_work_and_the_rest_says_what_to_install(
        ours: Diarization, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyannote.core", None)  # as if it were not installed
    assert ours.labels() and ours.label_duration("SPEAKER_00") == pytest.approx(3.4)
    assert ours.rename_labels(generator="int").labels() == [0, 1, 2] and ours.for_json()["content"]
    for call in (ours.to_annotation, ours.get_timeline, ours.support, lambda: ours.crop(None)):
        with pytest.raises(ImportError, match="pip install pyannote.core"):
            call()
