# One-command set-up and use. Every target installs what it needs on first use.
#   make demo           pre-train the demo config on a generated dataset (CPU, a few minutes)
#   make demo-finetune  fine-tune from that backbone, test with --out-dir, re-score, run online
#   make demo-twostage  two-stage paradigm on the demo data: frame model, feature bank, MS-TCN
#   make demo-suite     benchmark suite: that backbone vs from scratch, 2 seeds, CIs, P-values
#   make test   run the test suite (CPU)
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch/torchvision: pinned to the builds this project is tested with; override on a cluster,
# e.g. `make install TORCH_SPEC="torch==2.6.0 torchvision==0.21.0"`, or TORCH_SPEC= to keep yours
# (do that in an environment whose full mmcv was compiled against its torch). CUDA builds need a
# driver that supports them; the default (a CUDA 13 build) needs a recent NVIDIA driver.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
DEMO_DIR   ?= data/demo
DEMO_WORK  ?= work_dirs/demo
DEMO_FT    ?= work_dirs/demo_finetune
DEMO_FT_CFG := configs/finetune/surgvista_demo_phase.py
DEMO_2S    ?= work_dirs/demo_twostage
DEMO_SUITE ?= work_dirs/demo_suite
DEMO_SUITE_DATA ?= data/demo_suite

.PHONY: install demo demo-finetune demo-twostage demo-suite test benchmark clean-demo

$(VENV)/.installed: setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install -q $(TORCH_SPEC); fi
	# mmaction2 1.2.0 needs mmcv<2.2: keep a full mmcv 2.0/2.1 build if present, else mmcv-lite
	if $(PY) -c "import mmcv, sys; v=tuple(int(x) for x in mmcv.__version__.split('.')[:2]); sys.exit(0 if (2,0)<=v<(2,2) else 1)" 2>/dev/null; \
	then $(PY) -m pip install -q -e ".[tests]"; else $(PY) -m pip install -q -e ".[lite,tests]"; fi
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) tools/make_demo_data.py --out $(DEMO_DIR)
	$(PY) tools/train.py configs/pretrain/surgvista_demo.py --work-dir $(DEMO_WORK) --resume
	$(PY) tools/analysis/plot_training_log.py $(DEMO_WORK) --out $(DEMO_WORK)/curves.png
	$(PY) tools/analysis/demo_report.py $(DEMO_WORK)

# fine-tune from the backbone `make demo` pre-trained (its last checkpoint, read directly), test
# the best checkpoint (selected on the validation split's unrelaxed image-level accuracy) with
# --out-dir, re-score the written files, and run online inference on the held-out demo mp4
demo-finetune: install
	test -f $(DEMO_WORK)/last_checkpoint || $(MAKE) demo
	$(PY) tools/train.py $(DEMO_FT_CFG) --work-dir $(DEMO_FT) \
	    --cfg-options model.backbone.init_cfg.checkpoint=$$(cat $(DEMO_WORK)/last_checkpoint)
	$(PY) tools/test.py $(DEMO_FT_CFG) $$(ls -t $(DEMO_FT)/best_*.pth | head -1) \
	    --work-dir $(DEMO_FT)/test --out-dir $(DEMO_FT)/results --force
	$(PY) tools/analysis/eval_phase.py --gt-dir $(DEMO_FT)/results/gt \
	    --pred-dir $(DEMO_FT)/results/pred --protocol cholec80-matlab --fps 1 \
	    --classes cholec80 --out $(DEMO_FT)/results/eval_phase.json
	$(PY) tools/inference/online_phase.py $(DEMO_FT_CFG) $$(ls -t $(DEMO_FT)/best_*.pth | head -1) \
	    $(DEMO_DIR)/videos/$$(head -1 $(DEMO_DIR)/splits/test.txt).mp4 --out-dir $(DEMO_FT)/online

# the two-stage paradigm (docs/twostage.md): a tiny image model on single demo frames (best on
# val), the feature bank of its best checkpoint, a causal MS-TCN on the bank (best on val from
# epoch 12), tested on the held-out video with --out-dir, re-scored, accuracy printed
demo-twostage: install
	test -f $(DEMO_DIR)/demo_info.json || $(PY) tools/make_demo_data.py --out $(DEMO_DIR)
	$(PY) tools/train.py configs/twostage/demo_frame.py --work-dir $(DEMO_2S)/frame
	$(PY) tools/twostage/extract_bank.py configs/twostage/demo_frame.py \
	    $$(ls -t $(DEMO_2S)/frame/best_*.pth | head -1) --out $(DEMO_2S)/bank --no-progress
	$(PY) tools/train.py configs/twostage/demo_tcn.py --work-dir $(DEMO_2S)/tcn
	$(PY) tools/test.py configs/twostage/demo_tcn.py $$(ls -t $(DEMO_2S)/tcn/best_*.pth | head -1) \
	    --work-dir $(DEMO_2S)/tcn/test --out-dir $(DEMO_2S)/results --force
	$(PY) tools/analysis/eval_phase.py --gt-dir $(DEMO_2S)/results/gt \
	    --pred-dir $(DEMO_2S)/results/pred --protocol cholec80-matlab --fps 1 \
	    --classes cholec80 --out $(DEMO_2S)/results/eval_phase.json
	$(PY) tools/twostage/demo_report.py $(DEMO_2S)/results

# configs/suites/demo.py: fine-tuned from `make demo`'s backbone vs from scratch, 2 seeds each,
# on a demo dataset with 4 held-out test videos (generated once, other videos than make demo's);
# resumable (rerun it after an interruption); report in $(DEMO_SUITE)/report
demo-suite: install
	test -f $(DEMO_WORK)/last_checkpoint || $(MAKE) demo
	$(PY) tools/make_demo_data.py --out $(DEMO_SUITE_DATA) --videos 8 --test-videos 4 --seed 1 \
	    --web-videos 0 --no-progress
	$(PY) tools/run_suite.py configs/suites/demo.py --work-dir $(DEMO_SUITE) --cfg-options \
	    datasets.demo.data_root=$(DEMO_SUITE_DATA) \
	    models.pretrained.checkpoint=$(DEMO_WORK)/last_checkpoint

test: install
	$(PY) -m pytest tests -q

benchmark: install
	$(PY) tools/benchmark/metrics.py
	$(PY) tools/benchmark/pretrain_step.py

clean-demo:
	rm -rf $(DEMO_WORK) $(DEMO_FT) $(DEMO_2S) $(DEMO_SUITE)
