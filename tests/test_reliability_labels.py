"""Fault injection on phase label files: no video is dropped silently."""
from __future__ import annotations

import logging
import shutil

import pytest

from surgvista_mm.datasets import CHOLEC80_PHASES, read_phase_file
from surgvista_mm.datasets import phase_dataset
from surgvista_mm.datasets.phase_labels import read_cataracts_csv, read_pmlr50_txt
from surgvista_mm.registry import DATASETS


@pytest.fixture(scope='module')
def demo(make_demo) -> str:
    return make_demo('--videos', '2', '--frames', '16', '--size', '64', '--web-videos', '1')


@pytest.fixture
def labels(demo, tmp_path):
    out = tmp_path / 'labels'
    shutil.copytree(f'{demo}/phase_annotations', out)
    return out


def _build(demo, label_dir, **kw):
    return DATASETS.build(dict(type='SurgicalPhaseDataset', data_root=demo,
                               manifest='manifests/demo_frames.json', label_dir=str(label_dir),
                               **kw))


def test_header_is_recognised_by_content(demo, labels, tmp_path):
    f = labels / 'video01-phase.txt'
    with_header = read_phase_file(str(f), CHOLEC80_PHASES).tolist()
    f.write_text(''.join(f.read_text().splitlines(keepends=True)[1:]))  # header line removed
    ds = _build(demo, labels)
    assert ds.video_ids() == ['video01', 'video02'] and len(ds) == 32  # nothing dropped
    # the first row is data, not a header: every frame keeps its label
    assert len(with_header) == 16
    assert read_phase_file(str(f), CHOLEC80_PHASES).tolist() == with_header
    with pytest.raises(ValueError, match=r'video01-phase.txt:1: expected a header line'):
        read_phase_file(str(f), CHOLEC80_PHASES, header=True)
    p = tmp_path / '01.txt'  # PmLR50 without its header line: the first row is kept
    p.write_text('0 1\n1 2\n')
    assert read_pmlr50_txt(str(p)).tolist() == [1, 2]
    c = tmp_path / 'c.csv'  # CATARACTS without its header line
    c.write_text('1,3\n2,3\n')
    assert read_cataracts_csv(str(c), fps=1.0).tolist() == [3, 3]


@pytest.mark.parametrize('content, match', [
    ('', r'video02-phase.txt: the phase annotation file holds no label rows \(it is empty\)'),
    ('Frame\tPhase\n', r'video02-phase.txt: the phase annotation file holds no label rows'),
    ('Frame\tPhase\n1000\tPreparation\n',
     r"video 'video02'.*video02-phase.txt labels none of its 16"),
])
def test_label_file_labelling_nothing_is_an_error(demo, labels, content, match):
    (labels / 'video02-phase.txt').write_text(content)
    with pytest.raises(ValueError, match=match):
        _build(demo, labels)


def test_partial_coverage_warns_with_counts_or_fails_when_strict(demo, labels, monkeypatch):
    f = labels / 'video02-phase.txt'
    f.write_text(''.join(f.read_text().splitlines(keepends=True)[:201]))  # 200 rows = 8 s
    logged = []
    monkeypatch.setattr(phase_dataset, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: logged.append((level, msg)))
    ds = _build(demo, labels)
    assert len(ds) == 16 + 8
    warnings = [m for level, m in logged if level == logging.WARNING]
    assert len(warnings) == 1
    assert '1 video(s)' in warnings[0] and '8 unlabelled frames in total' in warnings[0]
    assert 'video02: 8 of 16 frames labelled' in warnings[0]
    with pytest.raises(ValueError, match=r'(?s)video02: 8 of 16 frames labelled.*strict_labels'):
        _build(demo, labels, strict_labels=True)


# ------------------------------------------------------------------ round 3 (issue 16, item 12)
def _rows(f):
    return f.read_text().splitlines(keepends=True)


def test_conflicting_duplicate_frame_labels_are_an_error(demo, labels, tmp_path):
    f = labels / 'video01-phase.txt'
    rows = _rows(f)  # line n + 2 holds frame n
    f.write_text(''.join(rows[:52] + ['25\tGallbladderRetraction\n'] + rows[52:]))
    with pytest.raises(ValueError, match=r"video01-phase.txt:53: frame 25 is labelled "
                                         r"'GallbladderRetraction' here but "
                                         r"'CalotTriangleDissection' on line 27: conflicting "
                                         r"duplicate rows"):
        _build(demo, labels)
    f.write_text(''.join(rows[:52] + [rows[26]] + rows[52:]))  # an identical repeat is harmless
    assert len(_build(demo, labels)) == 32
    p = tmp_path / '01.txt'  # the official-format readers too
    p.write_text('Frame Phase\n0 1\n1 2\n0 3\n')
    with pytest.raises(ValueError, match=r'01.txt:4: frame 0 is labelled .* on line 2'):
        read_pmlr50_txt(str(p))
    c = tmp_path / 'c.csv'
    c.write_text('Frame,Steps\n1,3\n2,3\n1,4\n')
    with pytest.raises(ValueError, match=r'c.csv:4: frame 1 is labelled'):
        read_cataracts_csv(str(c), fps=1.0)


def test_one_missing_row_reports_the_gap(demo, labels):
    f = labels / 'video01-phase.txt'
    rows = _rows(f)
    f.write_text(''.join(rows[:51] + rows[52:]))  # the row of frame 50 (= 2 s) removed
    with pytest.raises(ValueError, match=r'video01-phase.txt: no label row for frame 50 \(1-fps '
                                         r'frame 2, 2 s\), but the rows go on up to frame 399: a '
                                         r'gap in the annotation \(rows sampled at label_fps=25'):
        _build(demo, labels)  # before: "labels end before the video", 14 frames dropped
    f.write_text(''.join(rows[:52] + rows[53:]))  # a row that is not sampled: no effect
    assert len(_build(demo, labels)) == 32


def test_non_utf8_label_files_name_the_file(demo, labels, tmp_path):
    f = labels / 'video02-phase.txt'
    f.write_bytes(f.read_bytes().replace(b'\n3\tPreparation', b'\n3\tPr\xe9paration'))
    with pytest.raises(ValueError, match=r'video02-phase.txt:5: not UTF-8 text \(byte 0xe9 at '
                                         r'offset \d+\)'):
        _build(demo, labels)
    from surgvista_mm.evaluation.phase_files import PhaseFileError
    from surgvista_mm.evaluation.phase_files import read_phase_file as read_eval_file
    with pytest.raises(PhaseFileError, match=r'video02-phase.txt:5: not UTF-8 text'):
        read_eval_file(str(f))


def test_the_evaluation_reader_strips_a_bom_like_the_training_reader(tmp_path):
    from surgvista_mm.evaluation.phase_files import read_class_names
    from surgvista_mm.evaluation.phase_files import read_phase_file as read_eval_file
    names = tmp_path / 'classes.txt'
    names.write_bytes('\ufeffPreparation\nClippingCutting\n'.encode('utf-8'))
    assert read_class_names(str(names)) == ['Preparation', 'ClippingCutting']
    f = tmp_path / 'v-phase.txt'
    f.write_bytes('\ufeff0\tPreparation\n1\tClippingCutting\n'.encode('utf-8'))  # no header
    from surgvista_mm.evaluation.phase_files import PhaseFileError
    with pytest.raises(PhaseFileError, match=r'v-phase.txt:1: missing header line'):
        read_eval_file(str(f), ['Preparation', 'ClippingCutting'])  # BOM no longer hides it
    f.write_bytes('\ufeffFrame\tPhase\n0\tPreparation\n1\tClippingCutting\n'.encode('utf-8'))
    frames, ids = read_eval_file(str(f), read_class_names(str(names)))
    assert frames.tolist() == [0, 1] and ids.tolist() == [0, 1]
    assert read_phase_file(str(f), ['Preparation', 'ClippingCutting']).tolist() == [0]
