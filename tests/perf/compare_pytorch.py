#!/usr/bin/python3
"""Per-epoch training time of PyTorch against mpitrain, on the same model and schedule.

What it measures
    The same 784-H-10 ReLU network (H = --hidden, 100 by default) trained on MNIST with the same
    recipe in PyTorch and in mpitrain, one run after the other in this invocation:

      model      784-H-10, ReLU, CrossEntropyLoss (mean over the global batch)
      optimizer  SGD lr 0.1, momentum 0.9, nesterov=True
      batch      global batch 100, new random order every epoch, 600 steps per epoch
      schedule   constant learning rate (no decay: mpitrain --sched none), to keep it simple
      data       pixels / 255 as float32, no normalisation (mpitrain's default)

    Runs:
      torch, 1 process, 1 thread        data preloaded as one tensor, no DataLoader; each epoch a
                                        random permutation, then steps over x[idx[i:i+100]]
      torch, 1 process, N threads       the same with torch's default thread count, and with one
                                        thread per core if that is different
      torch DDP (gloo), 2 processes     1 thread each; each rank takes its 50-sample half of the
                                        same permuted slice of 100; timed on rank 0 between two
                                        barriers
      mpitrain, np 1 and np 2           mpirun -np N mpitrain --sched none ...; the time of each
                                        epoch is the "seconds" field of its --metrics file

    For each run it prints the median training time of an epoch (evaluation excluded), samples
    per second, and how many times slower than mpitrain np=2 the run is (with --rounds N, every
    run N times in turn, each ratio taken within its round, and the median and range of them);
    and the final test accuracy of each run, as a check that all of them train the same model
    about equally well.
    It is a benchmark, not a test: it passes or fails nothing. Timings on a shared machine are
    noisy; run it more than once.

How to run it
    Build mpitrain first (cmake -S . -B build && cmake --build build -j2), then, from anywhere:

      tests/perf/compare_pytorch.py                    # 3 epochs, hidden 100
      tests/perf/compare_pytorch.py --hidden 1024 --epochs 5
      tests/perf/compare_pytorch.py --skip-ddp
      tests/perf/compare_pytorch.py --epochs 5 --rounds 5   # the ratios over 5 rounds

    It needs Debian's python3-torch (hence /usr/bin/python3), numpy, Open MPI's mpirun, and the
    four MNIST .gz files (data/mnist by default). No network is used.

BLAS kernels
    Debian's torch does its matrix products through the system libblas.so.3; when that is BLIS
    0.9, BLIS picks its kernels from the CPU model (its slow generic ones for a model it does
    not know), whereas mpitrain asks BLIS for its Zen 3 kernels whenever the CPU has AVX2 and
    FMA (src/gemm.c). The header line says which libblas torch loaded and whether BLIS_ARCH_TYPE is
    set. To give torch the same kernels as mpitrain on such a machine, run

      BLIS_ARCH_TYPE=6 tests/perf/compare_pytorch.py    # 6 = BLIS_ARCH_ZEN3

    (mpitrain keeps a BLIS_ARCH_TYPE the user set, so both then use the same kernels).
"""

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

BATCH = 100
LR = 0.1
MOMENTUM = 0.9
SEED = 1
DDP_WORLD = 2

# torch's own choice, read before anything here calls torch.set_num_threads.
TORCH_DEFAULT_THREADS = torch.get_num_threads()


# ---------------------------------------------------------------- data


def read_idx(path):
    """One gzipped IDX file as a numpy array (uint8 images or labels)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(folder):
    """(x_train, y_train, x_test, y_test) as torch tensors; pixels / 255, float32, flattened."""
    def images(name):
        x = read_idx(os.path.join(folder, name)).reshape(-1, 784)
        return torch.from_numpy(x.astype(np.float32) / np.float32(255))

    def labels(name):
        return torch.from_numpy(read_idx(os.path.join(folder, name)).astype(np.int64))

    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


# ---------------------------------------------------------------- PyTorch


def make_model(hidden):
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True)


def test_accuracy(model, x_test, y_test):
    with torch.no_grad():
        return 100.0 * (model(x_test).argmax(1) == y_test).float().mean().item()


def train_epoch(model, opt, loss_fn, x, y, idx, lo, hi):
    """600 steps over the permutation idx; each step uses idx[i+lo : i+hi] of the batch at i."""
    for i in range(0, len(idx), BATCH):
        part = idx[i + lo: i + hi]
        opt.zero_grad()
        loss = loss_fn(model(x[part]), y[part])
        loss.backward()
        opt.step()


def run_torch_single(data, hidden, epochs, threads):
    """One process. Returns (epoch times in seconds, final test accuracy in percent)."""
    x, y, x_test, y_test = data
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    model, loss_fn = make_model(hidden), nn.CrossEntropyLoss()
    opt = make_optimizer(model)
    gen = torch.Generator().manual_seed(SEED)
    times = []
    for _ in range(epochs):
        idx = torch.randperm(len(x), generator=gen)
        t0 = time.perf_counter()
        train_epoch(model, opt, loss_fn, x, y, idx, 0, BATCH)
        times.append(time.perf_counter() - t0)
    return times, test_accuracy(model, x_test, y_test)


def ddp_worker(rank, world, port, data_dir, hidden, epochs, result_path):
    """One DDP rank (started by mp.spawn). Rank 0 writes its epoch times and accuracy as JSON."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    x, y, x_test, y_test = load_mnist(data_dir)
    torch.manual_seed(SEED)
    model = nn.parallel.DistributedDataParallel(make_model(hidden))  # broadcasts rank 0's weights
    loss_fn = nn.CrossEntropyLoss()
    opt = make_optimizer(model)
    gen = torch.Generator().manual_seed(SEED)  # every rank draws the same permutation
    share = BATCH // world
    times = []
    for _ in range(epochs):
        idx = torch.randperm(len(x), generator=gen)
        dist.barrier()
        t0 = time.perf_counter()
        # DDP averages the gradients over the ranks: the mean of two 50-sample means is the
        # mean over the global batch of 100.
        train_epoch(model, opt, loss_fn, x, y, idx, rank * share, (rank + 1) * share)
        dist.barrier()
        times.append(time.perf_counter() - t0)
    if rank == 0:
        acc = test_accuracy(model.module, x_test, y_test)
        with open(result_path, "w") as f:
            json.dump({"times": times, "acc": acc}, f)
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torch_ddp(data_dir, hidden, epochs, tmp):
    result_path = os.path.join(tmp, "ddp.json")
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # keep gloo on the loopback interface
    mp.spawn(ddp_worker, nprocs=DDP_WORLD,
             args=(DDP_WORLD, free_port(), data_dir, hidden, epochs, result_path))
    with open(result_path) as f:
        r = json.load(f)
    return r["times"], r["acc"]


# ---------------------------------------------------------------- mpitrain


def loaded_blas():
    """The BLAS library this process has mapped (torch loads it with its own libraries)."""
    torch.ones(2, 2) @ torch.ones(2, 2)
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libblas" in line or "blis" in line}
    return ", ".join(sorted(paths)) or "none found (torch has its own BLAS)"


def run_mpitrain(binary, data_dir, hidden, epochs, nprocs, tmp):
    metrics = os.path.join(tmp, "mpitrain-np%d.jsonl" % nprocs)
    if os.path.exists(metrics):  # mpitrain appends to its metrics file
        os.remove(metrics)
    cmd = ["mpirun", "-np", str(nprocs)]
    if nprocs > os.cpu_count():
        cmd.append("--oversubscribe")
    cmd += [binary, "--data", data_dir, "--hidden", str(hidden), "--epochs", str(epochs),
            "--batch-size", str(BATCH), "--lr", str(LR), "--momentum", str(MOMENTUM),
            "--nesterov", "--sched", "none", "--seed", str(SEED),
            "--progress", "off", "--metrics", metrics]
    env = dict(os.environ)
    if os.geteuid() == 0:
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if proc.returncode != 0:
        sys.exit("compare_pytorch: %s failed (exit %d):\n%s"
                 % (" ".join(cmd), proc.returncode, proc.stdout))
    with open(metrics) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["seconds"] for r in rows], rows[-1]["test_acc"]


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every configuration this many times, in turn (default 1)")
    ap.add_argument("--hidden", type=int, default=100, help="hidden width, e.g. 100 or 1024")
    ap.add_argument("--data", default=os.path.join(REPO, "data", "mnist"),
                    help="folder with the four MNIST .gz files (default: data/mnist)")
    ap.add_argument("--mpitrain", default=os.path.join(REPO, "build", "mpitrain"),
                    help="the mpitrain binary (default: build/mpitrain)")
    ap.add_argument("--skip-ddp", action="store_true", help="leave out the PyTorch DDP run")
    args = ap.parse_args()
    data_dir = os.path.abspath(args.data)
    binary = os.path.abspath(args.mpitrain)
    if not os.access(binary, os.X_OK):
        sys.exit("compare_pytorch: no mpitrain binary at %s; build it first" % binary)

    cores = os.cpu_count()
    print("784-%d-10 ReLU, SGD lr %g momentum %g Nesterov, constant rate, global batch %d, "
          "%d epochs; torch %s (default threads %d), %d cores"
          % (args.hidden, LR, MOMENTUM, BATCH, args.epochs, torch.__version__,
             TORCH_DEFAULT_THREADS, cores))
    print("torch's BLAS: %s; BLIS_ARCH_TYPE=%s"
          % (loaded_blas(), os.environ.get("BLIS_ARCH_TYPE", "(unset)")))
    data = load_mnist(data_dir)
    n_train = len(data[0])

    # Single-process thread counts: 1 (one core, like one rank), torch's default, all cores.
    single = [(1, "1 thread")]
    if TORCH_DEFAULT_THREADS != 1:
        single.append((TORCH_DEFAULT_THREADS, "%d threads (torch default)" % TORCH_DEFAULT_THREADS))
    else:
        single[0] = (1, "1 thread (= torch default)")
    if cores not in (1, TORCH_DEFAULT_THREADS):
        single.append((cores, "%d threads (all cores)" % cores))

    # Each round runs every configuration once, one after the other; the ratios are taken
    # within a round, so that a slow spell of this shared machine weighs on both sides.
    rounds = []  # per round: [(name, processes, epoch times, accuracy)]
    with tempfile.TemporaryDirectory(prefix="compare_pytorch.") as tmp:
        for k in range(args.rounds):
            runs = []
            tag = "round %d/%d: " % (k + 1, args.rounds)
            for threads, label in single:
                print(tag + "torch, 1 process, %s ..." % label, flush=True)
                times, acc = run_torch_single(data, args.hidden, args.epochs, threads)
                runs.append(("torch, " + label, 1, times, acc))
            if not args.skip_ddp:
                print(tag + "torch DDP gloo, %d processes x 1 thread ..." % DDP_WORLD, flush=True)
                times, acc = run_torch_ddp(data_dir, args.hidden, args.epochs, tmp)
                runs.append(("torch DDP gloo, 1 thread each", DDP_WORLD, times, acc))
            for n in (1, 2):
                print(tag + "mpitrain np %d ..." % n, flush=True)
                times, acc = run_mpitrain(binary, data_dir, args.hidden, args.epochs, n, tmp)
                runs.append(("mpitrain np %d" % n, n, times, acc))
            rounds.append(runs)

    print()
    print("%-36s %5s %12s %11s %22s %9s" % ("run", "procs", "s/epoch", "samples/s",
                                            "x mpitrain np2", "test acc"))
    for i, (name, procs, _, acc) in enumerate(rounds[0]):
        meds = [statistics.median(r[i][2]) for r in rounds]
        ratios = sorted(statistics.median(r[i][2]) / statistics.median(r[-1][2]) for r in rounds)
        med = statistics.median(meds)
        spread = ("%.2f (%.2f-%.2f)" % (statistics.median(ratios), ratios[0], ratios[-1])
                  if len(ratios) > 1 else "%.2f" % ratios[0])
        print("%-36s %5d %12.3f %11.0f %22s %8.2f%%"
              % (name, procs, med, n_train / med, spread, acc))
    print()
    print("s/epoch: median over %d epochs of the training time of an epoch, evaluation excluded "
          "(then the median over %d rounds); x mpitrain np2: s/epoch divided by mpitrain np 2's "
          "of the same round (> 1: slower), median over the rounds (lowest-highest)."
          % (args.epochs, args.rounds))
    print("per-epoch times (s):")
    for k, runs in enumerate(rounds):
        for name, _, times, _ in runs:
            print("  %d %-36s %s" % (k + 1, name, " ".join("%.3f" % t for t in times)))


if __name__ == "__main__":
    main()
