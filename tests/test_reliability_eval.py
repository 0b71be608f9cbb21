"""Fault injection on the evaluation tools' inputs: an unreadable .npz names the file and never
suggests allow_pickle; eval_cvs explains a NaN AP / mAP (no positives)."""
from __future__ import annotations

import numpy as np
import pytest

from surgvista_mm.utils.io import read_npz
from tests.helpers.tools import load_tool


@pytest.mark.parametrize('tool', ['analysis/eval_cvs', 'analysis/eval_triplet'])
def test_an_unreadable_npz_does_not_suggest_allow_pickle(tool, tmp_path, capsys):
    bad = tmp_path / 'preds.npz'
    bad.write_bytes(b'not an archive at all' * 4)  # numpy: "... unsafely using allow_pickle="
    assert load_tool(tool).main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert 'preds.npz is not an .npz file' in err and 'pickle' not in err
    np.savez(bad, targets=np.array([{'a': 1}], dtype=object))  # an object array
    with pytest.raises(ValueError, match=r'preds.npz holds Python objects .* never unpickled'):
        read_npz(str(bad))
    np.savez(bad, targets=np.zeros((40, 3)))
    bad.write_bytes(bad.read_bytes()[:200])  # cut short
    with pytest.raises(ValueError, match=r'preds.npz is a damaged .npz file'):
        read_npz(str(bad))


def test_eval_cvs_explains_a_nan_map(tmp_path, capsys):
    rng = np.random.default_rng(0)
    targets = (rng.random((30, 3)) > 0.5).astype(np.uint8)
    targets[:, 1] = 0  # no sample meets criterion C2
    path = tmp_path / 'preds.npz'
    np.savez(path, targets=targets, scores=rng.random((30, 3)), video_ids=np.array(['v1'] * 30))
    tool = load_tool('analysis/eval_cvs')
    assert tool.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert 'note: AP of C2 is NaN: no sample is positive for it (AP is undefined without ' \
           'positives), so mAP averages the other 2' in out
    np.savez(path, targets=np.zeros_like(targets), scores=rng.random((30, 3)))
    assert tool.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert 'mAP                          nan' in out
    assert 'note: mAP is NaN: none of the 3 criteria / classes has a positive sample' in out
