#!/usr/bin/python3
"""Exit 0 when the /model tensors of two HDF5 files have the same names and shapes and agree
within TOL (absolute); print the largest difference either way.

    compare_models.py A.h5 B.h5 TOL"""
import sys

import numpy as np

from state_dict_h5 import load_state_dict


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    a, b = load_state_dict(sys.argv[1]), load_state_dict(sys.argv[2])
    tol = float(sys.argv[3])
    if a.keys() != b.keys():
        print(f"different tensors: {sorted(a)} vs {sorted(b)}")
        return 1
    worst = 0.0
    for name in sorted(a):
        if a[name].shape != b[name].shape:
            print(f"{name}: shape {a[name].shape} vs {b[name].shape}")
            return 1
        worst = max(worst, float(np.abs(a[name].astype(np.float64) - b[name]).max()))
    print(f"largest difference {worst:.3g} (tolerance {tol:g})")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
