# The demo suite (`make demo-suite`): the demo phase config fine-tuned from `make demo`'s
# pre-trained backbone vs from scratch, 2 seeds each, tested on the held-out videos of a demo
# dataset with 4 test videos (`make demo-suite` generates it in data/demo_suite), P-values of the
# pre-trained model being better. Clean protocol (best epoch on the validation video).
#   python tools/run_suite.py configs/suites/demo.py --work-dir work_dirs/demo_suite
# Another data root or checkpoint on the command line:
#   ... --cfg-options datasets.demo.data_root=/path/to/demo \
#       models.pretrained.checkpoint=work_dirs/demo/epoch_10.pth
title = 'Demo suite: pre-trained (make demo) vs from scratch'
seeds = [0, 1]
reference = 'pretrained'
figure = 'bars'
metrics = dict(phase=['image_accuracy', 'accuracy', 'precision', 'recall', 'jaccard'])
datasets = dict(
    demo=dict(config='configs/finetune/surgvista_demo_phase.py', data_root='data/demo_suite'),
)
models = dict(
    # mmengine's pointer file: the last checkpoint `make demo` wrote is read from it
    pretrained=dict(checkpoint='work_dirs/demo/last_checkpoint',
                    label='SurgVISTA demo (pre-trained)'),
    scratch=dict(checkpoint=None, label='from scratch'),
)
