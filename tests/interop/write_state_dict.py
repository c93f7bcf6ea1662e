#!/usr/bin/python3
"""Write an HDF5 file shaped like the tutorial model's state_dict (784-100-10, PyTorch's
nn.Linear init: uniform in +-1/sqrt(fan_in)) from a seeded numpy generator, and print that
model's test loss and accuracy computed with numpy in float64.

    write_state_dict.py OUT.h5 DATA_DIR [SEED]
prints: test_loss 2.303456  test_acc 9.87%"""
import sys

import numpy as np

from mnist import evaluate, test_set
from state_dict_h5 import save_state_dict


def tutorial_state_dict(seed, sizes=(784, 100, 10)):
    rng = np.random.default_rng(seed)
    state = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        bound = 1.0 / np.sqrt(fan_in)
        state[f"fc{i}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        state[f"fc{i}.bias"] = rng.uniform(-bound, bound, fan_out).astype(np.float32)
    return state


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    out, data_dir = sys.argv[1], sys.argv[2]
    state = tutorial_state_dict(int(sys.argv[3]) if len(sys.argv) == 4 else 1)
    save_state_dict(out, state)
    loss, acc = evaluate(state, *test_set(data_dir))
    print(f"test_loss {loss:.6f}  test_acc {acc:.2f}%")


if __name__ == "__main__":
    main()
