# The demo fine-tuning recipe (surgvista_demo_phase.py: 8 frames of 64x64, 96 wide x 2 blocks,
# stride 2, fp32, 10 epochs, LR 2e-3) on a folder of your own, read as the custom template
# surgvista_vitb_custom_phase.py reads it: a CPU check of the folder in minutes before the ViT-B
# run (docs/data.md, "Your own dataset, end to end"):
#   python tools/train.py configs/finetune/surgvista_demo_custom_phase.py \
#       --cfg-options data_root=data/mine
# The manifest, the classes and every class count follow data_root; unrelaxed metrics, best
# checkpoint on splits/val.txt. From random weights; fine-tune the `make demo` backbone with
#   --cfg-options model.backbone.init_cfg.checkpoint=$(cat work_dirs/demo/last_checkpoint)
_base_ = ['./surgvista_demo_phase.py']

data_root = None  # required: --cfg-options data_root=DIR
classes = '${data_root}/classes.txt'  # or a list of names

model = dict(
    cls_head=dict(num_classes=None),  # None: follows classes
    data_preprocessor=dict(blending=dict(augments=[
        dict(type='MixupBlending', alpha=0.8, num_classes=None),
        dict(type='CutmixBlending', alpha=1.0, num_classes=None),
    ])))

_custom = dict(type='SurgicalPhaseDataset', data_root='${data_root}',
               manifest='manifests/*.json', label_dir='labels', classes=None,
               label_file_tmpl='{video_id}.csv', label_fps=1, label_first_frame=0,
               label_int_base=0, label_header=True, clip_len={{_base_.num_frames}},
               frame_interval=2, seed=0)
train_dataloader = dict(dataset=dict(_custom, _delete_=True, include='splits/train.txt',
                                     pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(_custom, _delete_=True, include='splits/val.txt',
                                   pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = dict(dataset=dict(_custom, _delete_=True, include='splits/test.txt',
                                    pipeline={{_base_.test_pipeline}}, test_mode=True))

val_evaluator = dict(_delete_=True, type='SurgicalPhaseMetric', num_classes=None,
                     relaxation='none')
test_evaluator = dict(_delete_=True, type='SurgicalPhaseMetric', num_classes=None,
                      relaxation='none', bootstrap=1000, seed=0)

default_hooks = dict(checkpoint=dict(save_best='phase/unrelaxed/jaccard'))
