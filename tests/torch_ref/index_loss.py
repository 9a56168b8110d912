"""PyTorch reference for indexing, concatenation, softmax and losses (tests/core/test_index.cpp, test_loss.cpp).

Each case: {"op", "params", "inputs": [tensor], "requires_grad": [bool], "grad_output": tensor (floating outputs
only)}. The answer holds the output and the gradient of every input that requires grad, for the given output
gradient."""
import torch
import torch.nn.functional as F

from common import main, run_case


def run(fn):
    return lambda case: run_case(case, lambda *xs: fn(case["params"], *xs))


HANDLERS = {
    "cat": run(lambda p, *xs: torch.cat(xs, p["dim"])),
    "stack": run(lambda p, *xs: torch.stack(xs, p["dim"])),
    "index_select": run(lambda p, x, i: torch.index_select(x, p["dim"], i)),
    "gather": run(lambda p, x, i: torch.gather(x, p["dim"], i)),
    "scatter_add": run(lambda p, x, i, s: torch.scatter_add(x, p["dim"], i, s)),
    "embedding": run(lambda p, w, i: F.embedding(i, w, padding_idx=p.get("padding_idx"))),
    "one_hot": run(lambda p, i: F.one_hot(i, p["num_classes"])),
    "softmax": run(lambda p, x: torch.softmax(x, p["dim"])),
    "log_softmax": run(lambda p, x: torch.log_softmax(x, p["dim"])),
    "cross_entropy": run(lambda p, x, t: F.cross_entropy(x, t, reduction=p["reduction"], ignore_index=p["ignore_index"],
                                                         label_smoothing=p["label_smoothing"])),
    "nll_loss": run(lambda p, x, t: F.nll_loss(x, t, reduction=p["reduction"], ignore_index=p["ignore_index"])),
    "mse_loss": run(lambda p, x, t: F.mse_loss(x, t, reduction=p["reduction"])),
    "binary_cross_entropy_with_logits": run(lambda p, x, t: F.binary_cross_entropy_with_logits(x, t, reduction=p["reduction"])),
    "l1_loss": run(lambda p, x, t: F.l1_loss(x, t, reduction=p["reduction"])),
    "huber_loss": run(lambda p, x, t: F.huber_loss(x, t, reduction=p["reduction"], delta=p["delta"])),
}

if __name__ == "__main__":
    main(HANDLERS)
