#!/usr/bin/python3
"""Evaluate an mpitrain checkpoint (or any file with a /model state_dict) on MNIST's test set
outside mpitrain: with numpy in float64, or with --torch by loading it into the tutorial's
nn.Sequential through a state_dict. Honours the checkpoint's --normalize option.

    eval_checkpoint.py [--torch] CHECKPOINT DATA_DIR
prints: test_loss 0.254321  test_acc 92.75%"""
import sys

import h5py

from mnist import evaluate, test_set
from state_dict_h5 import load_state_dict


def normalized(path):
    with h5py.File(path, "r") as f:
        value = f["config"].attrs.get("normalize", b"0") if "config" in f else b"0"
    return (value.decode() if isinstance(value, bytes) else str(value)) == "1"


def evaluate_torch(state, x, y):
    """The same network as torch.nn.Sequential in float32, weights loaded by load_state_dict."""
    import torch
    from torch import nn

    n_layers = sum(1 for k in state if k.endswith(".weight"))
    layers = []
    for i in range(1, n_layers + 1):
        out_features, in_features = state[f"fc{i}.weight"].shape
        layers.append(nn.Linear(in_features, out_features))
        if i < n_layers:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    # fcN.* is layer 2(N-1) of the Sequential (a ReLU sits between the Linear layers)
    model.load_state_dict({f"{2 * (int(k[2:k.index('.')]) - 1)}{k[k.index('.'):]}":
                           torch.from_numpy(v) for k, v in state.items()})
    with torch.no_grad():
        logits = model(torch.from_numpy(x).float())
        target = torch.from_numpy(y)
        loss = nn.functional.cross_entropy(logits, target).item()
        acc = 100.0 * (logits.argmax(dim=1) == target).double().mean().item()
    return loss, acc


def main():
    args = sys.argv[1:]
    use_torch = "--torch" in args
    args = [a for a in args if a != "--torch"]
    if len(args) != 2:
        sys.exit(__doc__)
    path, data_dir = args
    state = load_state_dict(path)
    x, y = test_set(data_dir, normalized(path))
    loss, acc = (evaluate_torch if use_torch else evaluate)(state, x, y)
    print(f"test_loss {loss:.6f}  test_acc {acc:.2f}%")


if __name__ == "__main__":
    main()
