"""The suite's report: ``results.csv``, ``tables.md``, ``tables.tex`` and the figures.

For every dataset and model, the completed seeds are re-scored from their ``--out-dir`` files
(:mod:`.scoring`); per metric (percent):

* ``value``: the mean over seeds of the protocol's number;
* ``ci_low`` / ``ci_high``: the 95 % percentile bootstrap interval over **videos** (metrics-spec
  §5: 1000 resamples, seed 0 unless the suite says otherwise): each resample of the test videos
  is scored for every seed and the seeds averaged;
* ``p_value``: one-sided Wilcoxon signed-rank test (``alternative='greater'``,
  ``zero_method='wilcox'``) that the suite's reference model beats this model, on the per-video
  values (mean over seeds) of the videos where both are defined; empty for the reference and
  when every difference is zero (``p_note`` says why).

Every row names its protocol (the evaluator's, e.g. ``cholec80-matlab``, and the kind: ``paper``
for ``*_paper.py`` configs, ``clean`` otherwise) and the SHA-256 of the backbone checkpoint the
run started from (``scratch`` without one). One table per dataset, never mixing protocols.
"""
from __future__ import annotations

import csv
import io
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from surgvista_mm.evaluation.functional.stats import bootstrap_ci, paired_wilcoxon
from surgvista_mm.utils.io import atomic_write_text
from .runner import is_complete, read_marker
from .scoring import RunScores, score_results
from .suite import RunSpec, Suite, load_config_cached

__all__ = ['CSV_FIELDS', 'collect_scores', 'summarize', 'write_report', 'build_report',
           'seed_mean_ci']

CSV_FIELDS = ('dataset', 'task', 'protocol', 'protocol_kind', 'model', 'label', 'metric',
              'value', 'ci_low', 'ci_high', 'p_value', 'p_note', 'reference', 'num_videos',
              'seeds', 'unit', 'test_config', 'backbone_checkpoint', 'backbone_sha256')


@dataclass
class ModelScores:
    """A model's completed runs on one dataset."""

    spec: RunSpec            # the first seed's run (config, protocol)
    markers: List[Dict]      # one per completed seed
    scores: List[RunScores]  # one per completed seed


def collect_scores(suite: Suite, runs: List[RunSpec]
                   ) -> Tuple[Dict[Tuple[str, str], ModelScores], List[str]]:
    """Re-score every completed run: ``({(dataset, model): ModelScores}, missing run ids)``."""
    found: Dict[Tuple[str, str], ModelScores] = {}
    missing = []
    for spec in runs:
        if not is_complete(spec):
            missing.append(spec.run_id)
            continue
        marker = read_marker(spec)
        test_step = spec.steps[-1]
        evaluator = load_config_cached(test_step.config, test_step.options).get('test_evaluator')
        scores = score_results(spec.results_dir, dict(evaluator or {}))
        key = (spec.dataset.name, spec.model.name)
        entry = found.setdefault(key, ModelScores(spec, [], []))
        entry.markers.append(marker)
        entry.scores.append(scores)
    return found, missing


def seed_mean_ci(scores: Sequence[RunScores], metrics: Sequence[str], n_resamples: int,
                 seed: int) -> Dict[str, Tuple[float, float, float]]:
    """Per metric ``(mean over seeds, CI low, CI high)``: the same video resamples score every
    seed, and the seeds' values are averaged per resample."""
    videos = scores[0].videos
    for s in scores[1:]:
        if s.videos != videos:
            raise ValueError(f'seeds were tested on different videos: {videos} vs {s.videos}')
    point = {m: float(np.mean([s.values()[m] for s in scores])) for m in metrics}

    def statistic(idx: np.ndarray) -> Dict[str, float]:
        per_seed = [s.values(idx) for s in scores]
        return {m: float(np.mean([v[m] for v in per_seed])) for m in metrics}

    ci = bootstrap_ci(statistic, len(videos), n_resamples, seed)
    return {m: (point[m], *ci[m]) for m in metrics}


def _per_video_mean(scores: Sequence[RunScores], metric: str) -> np.ndarray:
    with np.errstate(all='ignore'):
        return np.mean(np.stack([s.per_video(metric) for s in scores]), axis=0)


def _paired_p(model: Sequence[RunScores], ref: Sequence[RunScores], metric: str
              ) -> Tuple[float, str]:
    """P-value that the reference beats the model (one-sided Wilcoxon over videos) and a note."""
    if model[0].videos != ref[0].videos:
        return float('nan'), 'tested on other videos than the reference'
    a, b = _per_video_mean(ref, metric), _per_video_mean(model, metric)
    keep = np.isfinite(a) & np.isfinite(b)
    note = '' if keep.all() else f'{int((~keep).sum())} videos without a value left out'
    if not keep.any():
        return float('nan'), 'no video with a value'
    try:
        return paired_wilcoxon(a[keep], b[keep])['pvalue'], note
    except ValueError as err:  # every difference zero
        return float('nan'), str(err)


def summarize(suite: Suite, found: Dict[Tuple[str, str], ModelScores]) -> List[Dict]:
    """The rows of ``results.csv`` (suite order: datasets, then models, then metrics)."""
    rows = []
    for dataset in suite.datasets:
        ref = found.get((dataset.name, suite.reference))
        for model in suite.models:
            entry = found.get((dataset.name, model.name))
            if entry is None:
                continue
            first = entry.scores[0]
            metrics = list(suite.metrics.get(first.task, ()))
            stats = seed_mean_ci(entry.scores, metrics, suite.n_resamples, suite.bootstrap_seed)
            marker = entry.markers[0]
            for metric in metrics:
                value, low, high = stats[metric]
                if model.name == suite.reference:
                    p, note = float('nan'), 'reference'
                elif ref is None:
                    p, note = float('nan'), 'reference model has no completed run'
                else:
                    p, note = _paired_p(entry.scores, ref.scores, metric)
                rows.append(dict(
                    dataset=dataset.name, task=first.task, protocol=first.protocol,
                    protocol_kind=entry.spec.protocol_kind, model=model.name, label=model.label,
                    metric=metric, value=value, ci_low=low, ci_high=high, p_value=p,
                    p_note=note, reference=suite.reference, num_videos=len(first.videos),
                    seeds=';'.join(str(m['seed']) for m in entry.markers), unit='percent',
                    test_config=entry.spec.test_config,
                    backbone_checkpoint=marker['backbone_checkpoint'] or 'scratch',
                    backbone_sha256=marker['backbone_sha256'] or 'scratch'))
    return rows


# --------------------------------------------------------------------------- writing
def _num(value: float) -> str:
    return '' if value is None or not math.isfinite(value) else repr(float(value))


def results_csv(rows: List[Dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator='\n')
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _num(v) if isinstance(v, float) else v for k, v in row.items()})
    return buf.getvalue()


def _tables(rows: List[Dict]) -> List[Tuple[Tuple[str, str, str], List[Dict]]]:
    """Rows grouped by (dataset, protocol, protocol kind), in order."""
    groups: Dict[Tuple[str, str, str], List[Dict]] = {}
    for row in rows:
        groups.setdefault((row['dataset'], row['protocol'], row['protocol_kind']), []).append(row)
    return list(groups.items())


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return ''
    return '< 0.001' if p < 0.001 else f'{p:.3f}'


def _grid(group: List[Dict]) -> Tuple[List[str], List[str], Dict[Tuple[str, str], Dict],
                                      Dict[str, float]]:
    models = list(dict.fromkeys(r['model'] for r in group))
    metrics = list(dict.fromkeys(r['metric'] for r in group))
    cells = {(r['model'], r['metric']): r for r in group}
    best = {m: max((cells[(mod, m)]['value'] for mod in models if (mod, m) in cells
                    and math.isfinite(cells[(mod, m)]['value'])), default=float('nan'))
            for m in metrics}
    return models, metrics, cells, best


def _row_cells(model: str, metrics: List[str], cells: Dict[Tuple[str, str], Dict],
               best: Dict[str, float], bold: Callable[[str], str],
               p_text: Callable[[str], str]) -> List[str]:
    """``value [low, high]`` and the P-value per metric (the best value through ``bold``)."""
    out = []
    for m in metrics:
        r = cells.get((model, m))
        if r is None:
            out.append('')
            continue
        value = f'{r["value"]:.2f}'
        value = bold(value) if r['value'] == best[m] else value
        p = _fmt_p(r['p_value'])
        out.append(f'{value} [{r["ci_low"]:.2f}, {r["ci_high"]:.2f}]' + (p_text(p) if p else ''))
    return out


def _caption(suite: Suite, key: Tuple[str, str, str], group: List[Dict]) -> str:
    dataset, protocol, kind = key
    ref = next((r['label'] for r in group if r['model'] == suite.reference), suite.reference)
    return (f'{dataset}: protocol {protocol} ({kind} protocol), {group[0]["num_videos"]} test '
            f'videos, percent. Mean over seeds [95 % CI, bootstrap over videos, '
            f'{suite.n_resamples} resamples]; p: one-sided Wilcoxon signed-rank over videos that '
            f'{ref} is better; best mean in bold.')


def tables_md(suite: Suite, rows: List[Dict], missing: List[str]) -> str:
    lines = [f'# {suite.title}', '']
    if missing:
        lines += [f'Runs not (yet) complete, left out: {", ".join(missing)}', '']
    for key, group in _tables(rows):
        models, metrics, cells, best = _grid(group)
        lines += [f'## {key[0]} ({key[2]} protocol: {key[1]})', '', _caption(suite, key, group),
                  '', '| model | seeds | ' + ' | '.join(metrics) + ' |',
                  '|---|---|' + '---|' * len(metrics)]
        for mod in models:
            row_cells = _row_cells(mod, metrics, cells, best, lambda v: f'**{v}**',
                                   lambda p: f' p {p}' if p.startswith('<') else f' p = {p}')
            first = next(cells[(mod, m)] for m in metrics if (mod, m) in cells)
            lines.append(f'| {first["label"]} | {first["seeds"].replace(";", ", ")} | '
                         + ' | '.join(row_cells) + ' |')
        lines.append('')
    return '\n'.join(lines)


def _tex(text: str) -> str:
    for a, b in (('\\', r'\textbackslash{}'), ('_', r'\_'), ('%', r'\%'), ('&', r'\&'),
                 ('#', r'\#'), ('$', r'\$')):
        text = text.replace(a, b)
    return text


def tables_tex(suite: Suite, rows: List[Dict]) -> str:
    out = [f'% {suite.title}: generated by tools/run_suite.py (needs \\usepackage{{booktabs}})']
    for key, group in _tables(rows):
        models, metrics, cells, best = _grid(group)
        out += [r'\begin{table}[t]', r'\centering', r'\small',
                rf'\caption{{{_tex(_caption(suite, key, group))}}}',
                r'\begin{tabular}{l' + 'c' * len(metrics) + '}', r'\toprule',
                'Model & ' + ' & '.join(_tex(m) for m in metrics) + r' \\', r'\midrule']
        for mod in models:
            row_cells = _row_cells(mod, metrics, cells, best, lambda v: rf'\textbf{{{v}}}',
                                   lambda p: ' ($p<0.001$)' if p.startswith('<')
                                   else f' ($p={p}$)')
            label = next(cells[(mod, m)] for m in metrics if (mod, m) in cells)['label']
            out.append(_tex(label) + ' & ' + ' & '.join(row_cells) + r' \\')
        out += [r'\bottomrule', r'\end{tabular}', r'\end{table}', '']
    return '\n'.join(out)


def write_report(suite: Suite, rows: List[Dict], missing: List[str], out_dir: str
                 ) -> List[str]:
    """Write ``results.csv``, ``tables.md``, ``tables.tex`` and the figures; their paths."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, text in (('results.csv', results_csv(rows)),
                       ('tables.md', tables_md(suite, rows, missing)),
                       ('tables.tex', tables_tex(suite, rows))):
        path = osp.join(out_dir, name)
        atomic_write_text(path, text)
        written.append(path)
    if rows:
        from surgvista_mm.visualization.benchmark_plots import plot_suite_bars, plot_suite_scaling
        from surgvista_mm.visualization.figure_io import save_figure
        if suite.figure == 'scaling':
            scales = {m.name: m.scale for m in suite.models}
            fig = plot_suite_scaling(rows, scales, suite.title)
        else:
            fig = plot_suite_bars(rows, suite.reference, suite.title)
        path = osp.join(out_dir, f'{suite.figure}.png')
        save_figure(fig, path, dpi=120)
        written.append(path)
    return written


def build_report(suite: Suite, runs: List[RunSpec], out_dir: str) -> Tuple[List[Dict],
                                                                            List[str]]:
    """Re-score the completed runs and write the report; ``(rows, missing run ids)``."""
    found, missing = collect_scores(suite, runs)
    rows = summarize(suite, found)
    write_report(suite, rows, missing, out_dir)
    return rows, missing


__all__ += ['results_csv', 'tables_md', 'tables_tex', 'ModelScores']
