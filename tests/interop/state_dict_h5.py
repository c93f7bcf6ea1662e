"""A PyTorch state_dict to and from HDF5, laid out as mpitrain's checkpoints hold the model:
one float32 dataset per tensor under /model, named as in the state_dict (fc1.weight [out][in],
fc1.bias [out], fc2.weight, ...). mpitrain reads such a file with --init-from or
`mpitrain eval --checkpoint`; load_state_dict reads mpitrain's checkpoints back."""
import h5py
import numpy as np


def save_state_dict(path, state_dict):
    """Write each tensor (torch or numpy) as /model/<name>, little-endian float32."""
    # libver="latest": HDF5's newer format, with checksums on its metadata, the only one
    # mpitrain reads
    with h5py.File(path, "w", libver="latest") as f:
        for name, t in state_dict.items():
            a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
            f.create_dataset(f"model/{name}", data=a.astype("<f4"))


def load_state_dict(path):
    """{name: numpy array} from /model. For PyTorch:
    model.load_state_dict({k: torch.from_numpy(v) for k, v in load_state_dict(path).items()})"""
    with h5py.File(path, "r") as f:
        return {name: d[()] for name, d in f["model"].items()}
