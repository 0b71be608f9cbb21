"""Registered datasets, samplers and transforms (imported for their registration)."""
from .base_clip_dataset import BaseFrameClipDataset, causal_clip_indices, sample_rng
from .cholect50_dataset import (CholecT50TripletDataset, SurgicalTripletDataset,
                                read_generic_triplet_csv, read_triplet_labels)
from .manifest import VideoEntry, load_manifest, read_id_list, write_manifest
from .phase_dataset import CHOLEC80_PHASES, SurgicalPhaseDataset, read_phase_file
from .pretrain_dataset import SurgicalPretrainDataset
from .samplers import SurgVistaEpochSampler
from .transforms import (PackSurgVistaInputs, SurgicalFrameLoader, TSNMultiScaleCrop,
                         TubeMasking)

__all__ = ['BaseFrameClipDataset', 'causal_clip_indices', 'sample_rng', 'VideoEntry',
           'load_manifest', 'read_id_list', 'write_manifest', 'SurgicalPretrainDataset',
           'SurgicalPhaseDataset', 'CHOLEC80_PHASES', 'read_phase_file', 'CholecT50TripletDataset',
           'read_triplet_labels', 'SurgicalTripletDataset', 'read_generic_triplet_csv',
           'SurgVistaEpochSampler', 'SurgicalFrameLoader', 'TSNMultiScaleCrop', 'TubeMasking',
           'PackSurgVistaInputs']
from .cvs_dataset import EndoscapesCVSDataset, PackSurgVistaCVSInputs  # noqa: E402,F401
from .cholec80_cvs_dataset import Cholec80CVSDataset  # noqa: E402,F401
from .action_dataset import SurgicalActions160Dataset, surgical_actions160_split  # noqa: E402,F401,E501
from .base_clip_dataset import BadSampleBudgetError  # noqa: E402,F401
from .media import MediaError  # noqa: E402,F401
from .media_check import check_manifests, check_media  # noqa: E402,F401
from .feature_sequence_dataset import FeatureSequenceDataset  # noqa: E402,F401
