"""PyTorch reference for tests/distributed/test_bucket_assignment.cpp: DDP's bucket assignment.

Each case: {"op": "assign", "numel": [...], "dtype": [...], "caps": [first_bucket_bytes, bucket_bytes]}, parameters
in registration order. Like DDP with rebuilt buckets, the parameters are handed over in reverse registration order
(the order backward produces their gradients) with their registration indices; answers {"buckets": [[index, ...]]}
in PyTorch's order (closed buckets in closing order, then the leftover bucket of each dtype in no fixed order)."""
import torch
import torch.distributed as dist

from common import DTYPES, main


def assign(case):
    count = len(case["numel"])
    if count == 0:  # PyTorch asserts on an empty list; DDP never hands it one
        return {"buckets": []}
    order = list(reversed(range(count)))
    tensors = [torch.empty(case["numel"][i], dtype=DTYPES[case["dtype"][i]]) for i in order]
    buckets, _ = dist._compute_bucket_assignment_by_size(tensors, case["caps"], [False] * count, order)
    return {"buckets": [list(b) for b in buckets]}


main({"assign": assign})
