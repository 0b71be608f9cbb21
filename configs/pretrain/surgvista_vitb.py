# SurgVISTA pre-training, the paper's recipe (spec section 5):
# ViT-B/16, 16x224x224 clips, tube mask 0.85, reconstruction + distillation decoders,
# EndoSSL ViT-L/16 teacher, 8 GPUs x 64 clips x 4 accumulation = 2048 clips per step,
# 200 epochs, bf16 autocast.
#   tools/dist_train.sh configs/pretrain/surgvista_vitb.py 8 \
#       --cfg-options model.teacher.checkpoint=checkpoints/endossl_vitl16_lap.pth
_base_ = [
    '../_base_/models/surgvista_vitb.py',
    '../_base_/datasets/pretrain_surgical.py',
    '../_base_/schedules/pretrain_200e.py',
    '../_base_/default_runtime.py',
]
