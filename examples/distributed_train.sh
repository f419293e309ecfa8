#!/usr/bin/env bash
# Train on N processes with torchrun (DistributedDataParallel; gloo on CPU, nccl on GPUs).
#
#   bash examples/distributed_train.sh 4 --out runs/ddp --backbone resnet101     # 4 GPUs / processes
#   bash examples/distributed_train.sh 1 --fast                                  # one CPU process (CI)
#
# Every process runs the same script; fit() sees the torchrun environment, wraps the model in
# DistributedDataParallel, shards the data, reduces losses and metrics, and only rank 0 writes files.
# --batch-size is per process: the effective batch is N times larger (scale --lr with it).
set -euo pipefail
nproc="${1:-1}"
shift || true
here="$(cd "$(dirname "$0")" && pwd)"
exec python -m torch.distributed.run --standalone --nnodes=1 --nproc_per_node="$nproc" \
  "$here/train_synthetic.py" "$@"
