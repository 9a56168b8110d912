"""PyTorch reference for Model's losses and metrics (tests/core/test_loss_metrics.cpp).

Each case: {"op": "classify", "logits": tensor (N, C) or (N, C, d...), "labels": tensor (N) or (N, d...) i64,
"valid": [0/1] * N, "label_smoothing": s, "top_k": [k...]} -> {"loss", "accuracy", "top_k": {k: value},
"confusion": [[...]], "count"}, over the valid samples' labelled entries only (labels of -100, cross_entropy's
ignore_index, are left out, as F.cross_entropy's mean leaves them out; each position of an (N, d...) target is one
entry; torch.topk, torch.bincount); or {"op": "elementwise", "loss": "binary_cross_entropy" | "mse"
| "l1" | "huber", "output": tensor, "target": tensor, "valid": [...], "delta": d} -> {"loss", "accuracy" (binary)}:
the mean over valid samples of each sample's mean loss."""
import torch
import torch.nn.functional as F

from common import main, to_torch


def classify(case):
    keep = torch.tensor(case["valid"], dtype=torch.bool)
    logits, labels = to_torch(case["logits"])[keep], to_torch(case["labels"])[keep]
    classes = logits.shape[1]
    loss = F.cross_entropy(logits, labels, label_smoothing=case["label_smoothing"]).item()
    labelled = labels != -100
    # One row of classes per labelled entry: (N, C, d...) -> (entries, C).
    scores = logits.movedim(1, -1).reshape(-1, classes)[labelled.flatten()]
    labels = labels[labelled]
    predicted = scores.argmax(1)
    top_k = {str(k): (scores.topk(k, 1).indices == labels[:, None]).any(1).double().mean().item() for k in case["top_k"]}
    confusion = torch.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    return {"loss": loss, "accuracy": (predicted == labels).double().mean().item(), "top_k": top_k,
            "confusion": confusion.tolist(), "count": int(labels.numel())}


def elementwise(case):
    keep = torch.tensor(case["valid"], dtype=torch.bool)
    output, target = to_torch(case["output"])[keep], to_torch(case["target"])[keep]
    kind = case["loss"]
    losses = {"binary_cross_entropy": F.binary_cross_entropy_with_logits, "mse": F.mse_loss, "l1": F.l1_loss,
              "huber": lambda x, t, reduction: F.huber_loss(x, t, reduction=reduction, delta=case["delta"])}
    per_sample = losses[kind](output, target, reduction="none").flatten(1).mean(1)
    answer = {"loss": per_sample.mean().item()}
    if kind == "binary_cross_entropy":
        answer["accuracy"] = ((output > 0) == (target > 0.5)).double().flatten(1).mean(1).mean().item()
    return answer


if __name__ == "__main__":
    main({"classify": classify, "elementwise": elementwise})
