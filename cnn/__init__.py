"""srchain.cnn: the paper's CNN benchmark (Section 6, Appendix H) in PyTorch.

Quantized convolution weights trained with R-, SR-, BC- and big-batch SR-ADAM (or SGD), the five networks of
Table 1 (VGG-9, VGG-BC, ResNet-56, WRN-56-2, ResNet-18), the data (CIFAR-10/100, ImageNet, and the offline
scikit-learn digits), the training loop with per-layer weight-flip metrics (Figures 4-5, 7), Table 1 and plots.

One concern per module:

* :mod:`srchain.cnn.registry`  -- names of models, methods and datasets (no torch; the CLI validates with it)
* :mod:`srchain.cnn.quantized` -- Qd (Eq. 3), Qs (Eq. 5) and the binary grid on torch tensors, Rademacher init
* :mod:`srchain.cnn.optim`     -- the R / SR / BC optimizer wrapper around any torch optimizer
* :mod:`srchain.cnn.models`    -- VGG-9 (Table 2), VGG-BC (Table 3), ResNet-56, WRN-56-2, ResNet-18
* :mod:`srchain.cnn.data`      -- datasets and the paper's augmentation as vectorised batch ops
* :mod:`srchain.cnn.metrics`   -- flip percentages and the mean |w_b - w_r|
* :mod:`srchain.cnn.step`      -- the training step without host syncs; optimizer, AMP and determinism settings
* :mod:`srchain.cnn.config`    -- a run's settings (TrainConfig) and the paper's defaults they resolve to
* :mod:`srchain.cnn.train`     -- one training run: schedule, resume, DDP, AMP
* :mod:`srchain.cnn.checkpoint` -- checkpoints: weights-only save/load, sha256, schema and resume checks
* :mod:`srchain.cnn.resources` -- the up-front memory estimate of a run
* :mod:`srchain.cnn.profiling` -- operators and host synchronisations per step, counted on the CPU
* :mod:`srchain.cnn.table1`    -- the models x methods x seeds grid behind Table 1 (sweep tasks), its dry run
* :mod:`srchain.cnn.gpu_share` -- runs sharing GPUs: a worker's GPU, ``--runs-per-gpu auto`` measured
* :mod:`srchain.cnn.plots`     -- Figures 4-7 from the JSON-lines logs

This package file imports nothing heavy: ``srchain --help`` must not import torch.
"""
