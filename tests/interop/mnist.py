"""MNIST's test set from the gzipped (or raw) IDX files, and the tutorial network's forward pass
in numpy float64: the reference the interop test holds mpitrain to."""
import gzip
import os

import numpy as np


def read_idx(path):
    """The array in an IDX file of unsigned bytes, raw or .gz."""
    if not os.path.exists(path):
        path += ".gz"
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    if data[:3] != b"\0\0\x08":
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_set(data_dir, normalize=False):
    """x [10000][784] float64 (pixels / 255, or torchvision's Normalize), y [10000] int."""
    x = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte")).reshape(-1, 784) / 255.0
    if normalize:
        x = (x - 0.1307) / 0.3081
    y = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte")).astype(np.int64)
    return x, y


def evaluate(state, x, y):
    """Mean cross-entropy loss and accuracy in percent of the fc1, fc2, ... ReLU network."""
    h = x
    n_layers = sum(1 for k in state if k.endswith(".weight"))
    for i in range(1, n_layers + 1):
        h = h @ state[f"fc{i}.weight"].astype(np.float64).T + state[f"fc{i}.bias"].astype(np.float64)
        if i < n_layers:
            h = np.maximum(h, 0.0)
    top = h.max(axis=1, keepdims=True)
    log_softmax = h - top - np.log(np.exp(h - top).sum(axis=1, keepdims=True))
    loss = -log_softmax[np.arange(len(y)), y].mean()
    acc = 100.0 * (h.argmax(axis=1) == y).mean()
    return loss, acc
