#!/usr/bin/env bash
# Distributed training on one or more machines with torchrun:
#   tools/dist_train.sh CONFIG GPUS [tools/train.py flags]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node. On a machine without GPUs each
# process trains on CPU (gloo); add --device cpu to be explicit.
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$HERE/train.py" "$CONFIG" --launcher pytorch "${@:3}"
