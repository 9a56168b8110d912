"""PyTorch's DistributedSampler (unshuffled) for each case on stdin: [{"n", "world", "rank", "drop_last"}] -> index lists."""
import json
import sys

from torch.utils.data import DistributedSampler

cases = json.load(sys.stdin)
json.dump([list(DistributedSampler(range(c["n"]), num_replicas=c["world"], rank=c["rank"], shuffle=False,
                                   drop_last=c["drop_last"])) for c in cases], sys.stdout)
