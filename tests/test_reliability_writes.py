"""Fault injection on writes: a video id cannot lead a write outside the output folder, test.py's
--out-dir survives another file system and a killed run, prepare.py keeps the umask."""
from __future__ import annotations

import errno
import json
import logging
import os
import os.path as osp
import stat
import subprocess
import sys

import numpy as np
import pytest

from surgvista_mm.data_prep.releases import ReleaseError, prepare
from surgvista_mm.datasets.manifest import (VideoEntry, load_manifest, read_id_list,
                                            write_manifest)
from surgvista_mm.evaluation import writers
from surgvista_mm.evaluation.writers import STAGE_MARKER, SurgicalPredictionWriter
from surgvista_mm.inference.features import extract_features
from surgvista_mm.inference.online import OnlineResult, write_online_outputs
from surgvista_mm.utils.paths import (UnsafeIdError, UnsafePathError, check_id,
                                      id_from_relpath, safe_child)
from tests.helpers.tools import load_tool
from tests.test_data_prep_releases import build_generic_triplet

EVIL = '../../../../x/video05'
PHASE = dict(type='SurgicalPhaseMetric', num_classes=3, relaxation='none', fps=1)


def _samples(videos=('video01', 'video02'), n=6):
    rng = np.random.default_rng(0)
    return [dict(video_id=v, frame_index=t, gt_label=int(t % 3),
                 pred_score=rng.random(3).astype(np.float32)) for v in videos for t in range(n)]


def _run(writer, samples):
    writer.dataset_meta = dict(classes=['a', 'b', 'c'])
    writer.process({}, samples)
    return writer.evaluate(len(samples))


@pytest.mark.parametrize('bad', ['', '.', '..', '.hidden', 'a/b', 'a\\b', 'a..b', 'nul\x00',
                                 'line\nbreak', 'x' * 201, EVIL])
def test_the_id_rule(bad):
    with pytest.raises(UnsafeIdError, match='unsafe video id'):
        check_id(bad)
    for good in ('video01', 'hospA__video01', 'Fall 3 (2019)', 'vidéo-ü+1@k:2', 'x' * 200):
        assert check_id(good) == good
    assert id_from_relpath('hospA/video01') == 'hospA__video01'
    assert id_from_relpath('./a/b/c') == 'a__b__c'


def test_ids_are_checked_where_manifests_and_id_lists_are_read_and_written(tmp_path):
    path = str(tmp_path / 'm.json')
    with pytest.raises(UnsafeIdError, match=r"m.json, video entry 1: unsafe video id "
                                            r"'\.\./\.\./\.\./\.\./x/video05': it contains '/'"):
        write_manifest(path, [dict(video_id='ok', frame_dir='ok', num_frames=1),
                              dict(video_id=EVIL, frame_dir='f', num_frames=1)])
    assert not osp.exists(path)  # nothing written
    with open(path, 'w') as f:  # a hand-made manifest
        json.dump(dict(videos=[dict(video_id=EVIL, frame_dir='f', num_frames=1)]), f)
    with pytest.raises(UnsafeIdError, match=r'm.json, video entry 0: unsafe video id'):
        load_manifest(path)
    ids = tmp_path / 'test.txt'
    ids.write_text('# test split\nvideo01\n.secret\n')
    with pytest.raises(UnsafeIdError, match=r"test.txt:3: unsafe video id '\.secret': it starts "
                                            r"with '\.'"):
        read_id_list(str(ids), 'test split')
    with pytest.raises(UnsafeIdError, match='include'):
        read_id_list(['ok', 'a/b'], 'include')


def test_safe_child_refuses_traversal_and_links(tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    assert safe_child(str(out), 'pred/v1-phase.txt') == str(out / 'pred' / 'v1-phase.txt')
    for name in (f'{EVIL}.npz', '/etc/x', '..', '.'):
        with pytest.raises(UnsafePathError, match='outside the output folder'):
            safe_child(str(out), name)
    os.symlink(tmp_path, out / 'link')  # a link inside the folder pointing out of it
    with pytest.raises(UnsafePathError, match=r"'link/v.npz': it resolves to .*outside"):
        safe_child(str(out), 'link/v.npz')


def test_test_py_out_dir_cannot_write_outside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / 'a' / 'b' / 'results'
    writer = SurgicalPredictionWriter(metric=PHASE, out_dir=str(out))
    writer.dataset_meta = dict(classes=['a', 'b', 'c'])
    with pytest.raises(UnsafeIdError, match=r"SurgicalPredictionWriter .*unsafe video id "
                                            r"'\.\./\.\./\.\./\.\./x/video05'"):
        writer.process({}, _samples(videos=(EVIL,)))  # at the first batch, not after the run
    # the last line of defence, should an id get past process(): refused, nothing written
    rec = [dict(video_id='../../escaped', frame_index=0, scores=np.ones(3) / 3, gt=0)]
    writer.metric.results.clear()
    with pytest.raises(UnsafePathError, match='outside the output folder'):
        writer.write(rec, {})
    assert not list(tmp_path.rglob('*-phase.txt'))
    assert os.listdir(out) == []  # its stage was removed


def test_extract_features_and_online_outputs_refuse_paths_outside(tmp_path):
    out = str(tmp_path / 'features')
    entry = VideoEntry(video_id=EVIL, num_frames=3, frame_dir=str(tmp_path))
    with pytest.raises(UnsafePathError, match=r"feature file of video '\.\./.*outside"):
        extract_features(None, [entry], None, 4, 1, out, progress=False)
    result = OnlineResult('v.mp4', '../../evil', np.full((2, 3), 1 / 3, np.float32),
                          ['a', 'b', 'c'], 1.0)
    with pytest.raises(UnsafePathError, match=r"csv output of video '\.\./\.\./evil'"):
        write_online_outputs(result, out, plot=False)
    assert not list(tmp_path.rglob('*evil*')) and not list(tmp_path.rglob('*.npz'))


def test_build_manifest_id_from_path_makes_safe_ids(tmp_path):
    import cv2
    for site in ('hospA', 'hospB'):
        d = tmp_path / 'data' / site / 'video01'
        d.mkdir(parents=True)
        for k in range(2):
            cv2.imwrite(str(d / f'{k:06d}.jpg'), np.zeros((8, 8, 3), np.uint8))
    out = str(tmp_path / 'm.json')
    tool = load_tool('build_manifest')
    assert tool.main([str(tmp_path / 'data'), '--out', out, '--id-from', 'path']) == 0
    assert [e.video_id for e in load_manifest(out)] == ['hospA__video01', 'hospB__video01']
    hidden = tmp_path / 'data' / 'hospC' / '.cache'
    hidden.mkdir(parents=True)
    cv2.imwrite(str(hidden / '000000.jpg'), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UnsafeIdError, match=r"\.cache: unsafe video id '\.cache'"):
        tool.main([str(tmp_path / 'data'), '--out', out])


def test_prepare_refuses_a_name_outside_and_keeps_the_umask(tmp_path):
    release = str(tmp_path / 'release')
    build_generic_triplet(release, None)
    out = tmp_path / 'prepared'
    with pytest.raises(ReleaseError, match=r"--name '\.\./\.\./x': it contains '/'"):
        prepare('generic_triplet', release, str(out), name='../../x')
    assert load_tool('data/prepare').main(['generic_triplet', '--root', release, '--out',
                                           str(out), '--name', '../x']) == 1
    assert not out.exists() and not list(tmp_path.rglob('x.json'))
    old = os.umask(0o002)  # a group-writable umask, as on shared servers
    try:
        prepare('generic_triplet', release, str(out), name='p21')
    finally:
        os.umask(old)
    for d in (out, out / 'manifests', out / 'labels'):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o775, d  # not mkdtemp's 0o700
    assert stat.S_IMODE(os.stat(out / 'manifests' / 'p21.json').st_mode) == 0o664


def _other_file_system(tmp_path):
    shm = '/dev/shm'
    if not (osp.isdir(shm) and os.access(shm, os.W_OK)) or \
            os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip('no second file system (/dev/shm) to test with')
    return shm


def test_out_dir_on_another_file_system(tmp_path):
    """--out-dir a link to another file system: staged there, so the renames work (before: the
    stage was made beside the link, and the final rename failed with EXDEV, losing the run)."""
    import tempfile
    real = tempfile.mkdtemp(dir=_other_file_system(tmp_path), prefix='surgvista-test-')
    try:
        out = tmp_path / 'results'
        os.symlink(real, out)
        _run(SurgicalPredictionWriter(metric=PHASE, out_dir=str(out), plots=False), _samples())
        assert sorted(os.listdir(real)) == ['gt', 'metrics.json', 'pred', 'scores.npz']
    finally:
        import shutil
        shutil.rmtree(real)


def test_a_failed_final_move_keeps_the_staged_results(tmp_path, monkeypatch):
    out = tmp_path / 'results'
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        if osp.basename(dst) == 'pred':
            raise OSError(errno.EXDEV, 'Invalid cross-device link')
        return real_replace(src, dst)

    monkeypatch.setattr(writers.os, 'replace', replace)
    writer = SurgicalPredictionWriter(metric=PHASE, out_dir=str(out), plots=False)
    with pytest.raises(OSError, match=r'could not move the results into .*results \(Invalid '
                                      r'cross-device link\).*kept in .*\.partial-\d+: ') as err:
        _run(writer, _samples())
    stage = [n for n in os.listdir(out) if n.startswith('.partial-')]
    assert len(stage) == 1 and stage[0] in str(err.value)
    kept = sorted(os.listdir(out / stage[0]))
    assert 'metrics.json' in kept and 'pred' in kept
    assert STAGE_MARKER not in kept  # not removed as stale by the next run
    # the stage is inside the destination folder, so on its file system
    assert all(osp.dirname(osp.dirname(src)) == str(out) for src, _ in calls)
    assert writers.clean_stale_stages(str(out)) == []


_KILLED_WHILE_WRITING = """
import os, signal, sys
sys.path.insert(0, {root!r})
import numpy as np
import surgvista_mm
from surgvista_mm.evaluation.writers import SurgicalPredictionWriter
writer = SurgicalPredictionWriter(metric=dict(type='SurgicalPhaseMetric', num_classes=3,
                                              relaxation='none', fps=1), out_dir={out!r})
write_phase = writer._write_phase
def killed(stage, records):  # kill -9 once the per-video files are staged
    write_phase(stage, records)
    os.kill(os.getpid(), signal.SIGKILL)
writer._write_phase = killed
writer.dataset_meta = dict(classes=['a', 'b', 'c'])
writer.write([dict(video_id='v1', frame_index=t, scores=np.ones(3) / 3, gt=0)
              for t in range(4)], {{}})
"""


def test_a_killed_test_run_leaves_no_partial_folder_for_good(tmp_path):
    out = tmp_path / 'results'
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    run = subprocess.run([sys.executable, '-c', _KILLED_WHILE_WRITING.format(root=root,
                                                                              out=str(out))],
                         capture_output=True, text=True)
    assert run.returncode == -9, run.stderr
    (left,) = os.listdir(out)  # before: .results.partial-<pid> beside it, for good
    with open(out / left / STAGE_MARKER) as f:
        assert left == f'.partial-{json.load(f)["pid"]}'  # the killed process's stage
    assert 'v1-phase.txt' in os.listdir(out / left / 'pred')
    import socket
    for name, info in ((f'.partial-{os.getpid()}', dict(pid=os.getpid(),  # a live run's
                                                        host=socket.gethostname())),
                       ('.partial-1', dict(pid=1, host='another-node'))):
        (out / name).mkdir()
        (out / name / STAGE_MARKER).write_text(json.dumps(info))
        (out / name / 'scores.npz').write_bytes(b'half')
    (out / '.partial-7').mkdir()  # no marker: not ours (or an older build's)
    from mmengine.logging import MMLogger
    logger, records = MMLogger.get_current_instance(), []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        SurgicalPredictionWriter(metric=PHASE, out_dir=str(out))  # the next start
    finally:
        logger.removeHandler(handler)
    assert sorted(os.listdir(out)) == sorted(['.partial-1', '.partial-7',
                                              f'.partial-{os.getpid()}'])
    # the removed stage is logged; the kept foreign ones are named in warnings, the live one not
    messages = {r.getMessage(): r.levelno for r in records}
    assert any(m.startswith(f'removed {out / left}') for m in messages)
    warned = sorted(m.split(':')[0] for m, level in messages.items() if level == logging.WARNING)
    assert warned == [f'kept {out / ".partial-1"}', f'kept {out / ".partial-7"}']
