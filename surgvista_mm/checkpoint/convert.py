"""Convert published checkpoints (SurgVISTA, VideoMAE, MVD, EndoSSL, the surgical-domain
baselines) to this project's layout.

Kinds and target layouts:

* ``surgvista-pretrain``: ``['model']`` of a SurgVISTA pre-training run -> ``SurgVistaPretrainer``
  (``backbone.*``, ``pixel_decoder.*`` from ``*_vid``, ``distill_decoder.*`` from ``*_img``).
* ``surgvista-finetune``: ``['module']`` of a fine-tuned model -> ``Recognizer3D``
  (``backbone.*``, ``cls_head.fc_norm.*``, ``cls_head.head.*``).
* ``videomae`` / ``mvd``: encoders (optional ``encoder.`` prefix) -> ``backbone.*``; decoders and
  classifier parts are dropped with a note.
* ``endossl``: the image teacher -> ``SurgVistaImageTeacher`` keys (no prefix).
* ``mmaction2-vit`` / ``umt`` / ``timm-vit``: mmaction2's ``VisionTransformer``, UMT stage 1,
  timm ViT image models (supervised ImageNet, DINO, MAE) -> ``backbone.*``, reshaping tensors
  where the layouts differ (see :mod:`surgvista_mm.checkpoint.natural`).
* ``surgvista-mm``: a checkpoint written by *this project's own* pre-training run (mmengine
  layout) -> its ``backbone.*`` tensors, for a fine-tuning config's ``init_cfg``. It is read with
  ``weights_only=True`` like every other source (``surgvista_mm.checkpoint.safe_load``).
* ``selfsupsurg`` / ``endovit`` / ``endossl-vit`` / ``gsvit``: the surgical-domain baselines of the
  paper's Fig. 4 -> ``model.<timm key>`` of the two-stage image encoder (timm ``resnet50``,
  ``vit_base_patch16_224``, ``vit_large_patch16_224``, ``efficientvit_m5``; see
  :mod:`surgvista_mm.checkpoint.baselines`).

Fixed position tables stored in a source are dropped (the model recomputes them).
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

import torch

from .baselines import ALLOWED_MISSING_SUFFIX as BASELINE_ALLOWED_MISSING
from .baselines import CONVERTERS as BASELINE_CONVERTERS
from .baselines import TIMM_ARCHS, unwrap_baseline
from .natural import ALLOWED_MISSING as NATURAL_ALLOWED_MISSING
from .natural import CONVERTERS as NATURAL_CONVERTERS
from .safe_load import load_checkpoint_file, load_external_weights
from .state_dict import check_state_dict, strip_prefix, unwrap_state_dict
from ..utils.io import file_sha256

KINDS = ('surgvista-pretrain', 'surgvista-finetune', 'videomae', 'mvd', 'endossl',
         'surgvista-mm', 'mmaction2-vit', 'umt', 'timm-vit',
         'selfsupsurg', 'endovit', 'endossl-vit', 'gsvit')
_ENCODER = re.compile(r'^(patch_embed\.|blocks\.|norm\.)')
_DECODER_PREFIX = {'img': 'distill_decoder.', 'vid': 'pixel_decoder.'}


@dataclass
class ConversionReport:
    """What a conversion did: ``mapped`` (source key, target key), ``dropped`` (key, reason),
    ``missing`` (target keys the source did not provide; allowed ones only), ``notes`` (tensors
    changed beyond a rename)."""

    kind: str
    source: str
    mapped: List[Tuple[str, str]] = field(default_factory=list)
    dropped: List[Tuple[str, str]] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def summary(self, verbose: bool = False) -> str:
        """Counts, then the dropped keys grouped by prefix and reason (``decoder.* (48): why``);
        ``verbose`` lists every dropped key instead."""
        lines = [f'{self.source} ({self.kind}): mapped {len(self.mapped)} tensors, '
                 f'dropped {len(self.dropped)}']
        if verbose:
            lines += [f'  dropped {key}: {why}' for key, why in self.dropped]
        else:
            groups: Dict[Tuple[str, str], int] = {}
            for key, why in self.dropped:
                group = _key_group(key)
                groups[group, why] = groups.get((group, why), 0) + 1
            lines += [f'  dropped {group} ({count}): {why}'
                      for (group, why), count in groups.items()]
        lines += [f'  note: {note}' for note in self.notes]
        lines += [f'  not in source (kept as initialised): {key}' for key in self.missing]
        return '\n'.join(lines)


def _key_group(key: str) -> str:
    """``decoder_vid.blocks.3.attn.qkv.weight`` -> ``decoder_vid.*``; ``pos_embed`` as is."""
    return key.split('.', 1)[0] + '.*' if '.' in key else key


def _map_surgvista_pretrain(key: str) -> Tuple[Optional[str], str]:
    if key in ('pos_embed', 'pos_embed_img', 'pos_embed_vid'):
        return None, 'fixed sin-cos table, recomputed by the model'
    if _ENCODER.match(key):
        return 'backbone.' + key, ''
    match = re.match(r'^(mask_token|down|decoder)_(img|vid)(.*)$', key)
    if match:
        name, branch, rest = match.groups()
        prefix = _DECODER_PREFIX[branch]
        if name == 'mask_token' and not rest:
            return prefix + 'mask_token', ''
        if name == 'down':
            return prefix + 'proj' + rest, ''
        if name == 'decoder' and re.match(r'^\.(blocks|norm|head)\.', rest):
            return prefix + rest[1:], ''
    return None, 'not part of the SurgVISTA pre-training layout'


def _map_surgvista_finetune(key: str) -> Tuple[Optional[str], str]:
    if key == 'pos_embed':
        return None, 'fixed sin-cos table, recomputed by the model'
    if key.startswith(('patch_embed.', 'blocks.')):
        return 'backbone.' + key, ''
    if key.startswith(('fc_norm.', 'head.')):
        return 'cls_head.' + key, ''
    if key.startswith('norm.'):
        return None, 'pre-training final norm, discarded for fine-tuning'
    return None, 'not part of the SurgVISTA fine-tuning layout'


def _map_encoder(key: str) -> Tuple[Optional[str], str]:
    """VideoMAE / MVD encoder keys (``encoder.`` prefix already stripped)."""
    if key == 'pos_embed':
        return None, ("VideoMAE/MVD 1-D sin-cos table, recomputed: build the backbone with "
                      "pos_embed_type='sincos1d_videomae'")
    if _ENCODER.match(key):
        return 'backbone.' + key, ''
    if key.startswith(('fc_norm.', 'head.')):
        return None, 'fine-tuning classifier, not part of the encoder'
    return None, 'decoder / pre-training-only parameter, not part of the encoder'


def _map_videomae(key: str, prefixed: bool) -> Tuple[Optional[str], str]:
    """VideoMAE / MVD keys; with ``prefixed``, only ``encoder.*`` keys belong to the encoder."""
    if prefixed:
        if not key.startswith('encoder.'):
            return None, 'decoder / pre-training-only parameter, not part of the encoder'
        key = key[len('encoder.'):]
    return _map_encoder(key)


def _map_endossl(key: str) -> Tuple[Optional[str], str]:
    if key.startswith('head.'):
        return None, 'classifier of the image model, unused by the teacher'
    if key.startswith('fc.'):
        return None, 'MSN projection head, unused by the teacher'
    return key, ''


def _map_own(key: str) -> Tuple[Optional[str], str]:
    if key.startswith('backbone.'):
        return key, ''
    return None, 'pre-training decoder / head, not part of the backbone'


def convert_state_dict(state: Mapping[str, torch.Tensor], kind: str,
                       target: Optional[Mapping[str, torch.Size]] = None,
                       source: str = '<state dict>') -> Tuple[Dict[str, torch.Tensor],
                                                             ConversionReport]:
    """Rename the tensors of ``state`` (already unwrapped) to this project's layout.

    Args:
        state: source tensors.
        kind: one of :data:`KINDS`.
        target: shapes of the target model's state dict; when given, unexpected keys and shape
            mismatches raise (KeyError / ValueError naming the key and both shapes).
            Missing keys raise too, except, for ``videomae``/``mvd``, the final ``norm``.
        source: name used in messages.

    Returns:
        ``(converted state dict, report)``.
    """
    if kind not in KINDS:
        raise ValueError(f'unknown kind {kind!r}; choose from {KINDS}')
    state = dict(state)
    if kind in BASELINE_CONVERTERS:
        out, mapped, dropped, notes = BASELINE_CONVERTERS[kind](state, target)
        if not out:
            raise KeyError(f'{source}: none of its {len(state)} tensors belongs to the {kind} '
                           f'layout (first keys: {sorted(state)[:5]}); is --kind right?')
        report = ConversionReport(kind=kind, source=source, mapped=mapped, dropped=dropped,
                                  notes=notes)
        if target is not None:
            allow = [k for k in target if k.endswith(BASELINE_ALLOWED_MISSING)]
            counters = check_state_dict(out, target, source, allow_missing=allow)
            for key in counters:  # written, so that the file loads strictly
                out[key] = torch.zeros((), dtype=torch.long)
            if counters:
                report.notes.append(f'{len(counters)} BatchNorm num_batches_tracked counters '
                                    'not in the source, written as 0 (unused with a momentum)')
        return out, report
    if kind in NATURAL_CONVERTERS:
        out, mapped, dropped, notes = NATURAL_CONVERTERS[kind](state, target)
        if target is not None and 'backbone.norm.weight' not in target:
            for key in [k for k in out if k.startswith('backbone.norm.')]:
                out.pop(key)
                dropped.append((key, 'final norm, discarded for fine-tuning (the target model '
                                     'has none)'))
        report = ConversionReport(kind=kind, source=source, mapped=mapped, dropped=dropped,
                                  notes=notes)
        if target is not None:
            allow = [k for k in target if k.startswith(NATURAL_ALLOWED_MISSING[kind])]
            report.missing = check_state_dict(out, target, source, allow_missing=allow)
        return out, report
    if kind in ('videomae', 'mvd'):
        mapper = functools.partial(_map_videomae,
                                   prefixed=any(k.startswith('encoder.') for k in state))
    elif kind == 'endossl':
        state = strip_prefix(strip_prefix(state, 'module.'), 'backbone.')
        mapper = _map_endossl
    elif kind == 'surgvista-pretrain':
        mapper = _map_surgvista_pretrain
    elif kind == 'surgvista-mm':
        mapper = _map_own
    else:
        mapper = _map_surgvista_finetune
    report = ConversionReport(kind=kind, source=source)
    out: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new, why = mapper(key)
        if new is None:
            report.dropped.append((key, why))
        else:
            out[new] = value
            report.mapped.append((key, new))
    if target is not None:
        allow = [k for k in target if k.startswith('backbone.norm.')] \
            if kind in ('videomae', 'mvd', 'surgvista-mm') else []
        report.missing = check_state_dict(out, target, source, allow_missing=allow)
    return out, report



def save_converted(state: Mapping[str, torch.Tensor], dst: str, meta: Dict,
                   force: bool = False) -> None:
    """Write ``{'state_dict': state, 'meta': meta}`` atomically (tmp file + ``os.replace``).

    Raises:
        FileExistsError: ``dst`` exists and ``force`` is False.
    """
    if os.path.exists(dst) and not force:
        raise FileExistsError(f'{dst} exists; pass force=True (--force) to overwrite it')
    from surgvista_mm.utils.io import atomic_writer
    with atomic_writer(dst, 'wb') as f:
        torch.save({'state_dict': {k: v.contiguous() for k, v in state.items()}, 'meta': meta},
                   f)


def convert_file(src: str, dst: str, kind: str,
                 target: Union[None, Mapping[str, torch.Size], Callable] = None,
                 force: bool = False) -> ConversionReport:
    """Load ``src`` (``weights_only=True``), convert, check against ``target`` and write ``dst``.

    ``target`` is a shape mapping, or a callable ``(kind, source_state) -> shapes`` (e.g.
    :func:`surgvista_mm.checkpoint.default_target`), or None (no check).
    """
    if os.path.exists(dst) and not force:
        raise FileExistsError(f'{dst} exists; pass force=True (--force) to overwrite it')
    if kind == 'surgvista-mm':
        raw = load_checkpoint_file(src)
    else:
        raw = load_external_weights(src)
    if kind in BASELINE_CONVERTERS or kind == 'endossl':
        state = unwrap_baseline(raw, kind, src)
    else:
        state = unwrap_state_dict(raw, src)
    if callable(target):
        target = target(kind, state)
    converted, report = convert_state_dict(state, kind, target=target, source=src)
    meta = dict(converter='surgvista_mm.checkpoint.convert', kind=kind,
                source=os.path.basename(src), source_sha256=file_sha256(src),
                dropped=[k for k, _ in report.dropped])
    if kind in TIMM_ARCHS:
        meta['timm_arch'] = TIMM_ARCHS[kind]
    save_converted(converted, dst, meta, force=force)
    return report
