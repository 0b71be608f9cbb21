"""Running trained models outside the Runner: online phase recognition on a video, feature
extraction for two-stage methods, and masked-reconstruction figures.

* :mod:`.model`: build a model from a config and a checkpoint (checked, weights_only=True);
* :mod:`.frames`: the 1-fps frames of a video file or frame folder, by the datasets' rule;
* :mod:`.online`: causal clips from a ring buffer of preprocessed frames, batched inference;
* :mod:`.features`: pooled clip features per 1-fps frame, one resumable file per video;
* :mod:`.reconstruction`: the paper's Fig. 6 grid from pre-training checkpoints.
"""
from .frames import FrameSource, open_frames
from .model import build_model_from_config, check_checkpoint_fits, load_config_file
from .online import OnlineResult, online_phase_recognition, write_online_outputs

__all__ = ['FrameSource', 'open_frames', 'build_model_from_config', 'check_checkpoint_fits',
           'load_config_file', 'OnlineResult', 'online_phase_recognition', 'write_online_outputs']
