# CATARACTS (2020 step annotations, 19 steps 0..18), online causal protocol (16 frames, stride
# 4, ending at t). Layout: data/cataracts/manifests/cataracts.json (ids train01..25, test01..25;
# the micro videos as video files, whose native fps -- about 29.2, non-integer, per video -- the
# manifest records; frame folders must carry that "fps" too) and the official ground truth
# data/cataracts/ground_truth/CATARACTS_2020/{train_gt,dev_gt,test_gt}/<video>.csv
# ("Frame,Steps", 1-based native frames; 1-fps frame k = native frame round(k * fps)).
# Official split: train train01-25, val (dev_gt) test01, 07, 14, 16, 19 (model selection),
# test the other 20 test videos.
# Metric: unrelaxed pooled metrics (the safe default, metrics-spec §1; the relaxed
# 'generic-matlab' protocol is available with relaxation='matlab', transition_rule='generic').
_base_ = ['./finetune_common.py']

data_root = 'data/cataracts'
manifest = 'manifests/cataracts.json'
gt_dir = 'ground_truth/CATARACTS_2020'
classes = ('Idle', 'Toric Marking', 'Implant Ejection', 'Incision', 'Viscodilatation',
           'Capsulorhexis', 'Hydrodissection', 'Nucleus Breaking', 'Phacoemulsification',
           'Vitrectomy', 'Irrigation/Aspiration', 'Preparing Implant', 'Manual Aspiration',
           'Implantation', 'Positioning', 'OVD Aspiration', 'Suturing', 'Sealing Control',
           'Wound Hydratation')
val_ids = (1, 7, 14, 16, 19)
train_videos = [f'train{i:02d}' for i in range(1, 26)]
val_videos = [f'test{i:02d}' for i in val_ids]
test_videos = [f'test{i:02d}' for i in range(1, 26) if i not in val_ids]

_dataset = dict(type='SurgicalPhaseDataset', data_root=data_root, manifest=manifest,
                classes=classes, label_format='cataracts', label_file_tmpl='{video_id}.csv',
                clip_len={{_base_.clip_len}}, frame_interval={{_base_.frame_interval}}, seed=0)

train_dataloader = dict(dataset=dict(_dataset, label_dir=gt_dir + '/train_gt',
                                     include=train_videos))
val_dataloader = dict(dataset=dict(_dataset, label_dir=gt_dir + '/dev_gt', include=val_videos))
test_dataloader = dict(dataset=dict(_dataset, label_dir=gt_dir + '/test_gt',
                                    include=test_videos))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=19, relaxation='none')
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)
