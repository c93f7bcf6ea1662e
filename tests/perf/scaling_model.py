#!/usr/bin/env python3
"""Predicted epoch time of mpitrain on a cluster, from the cost model of one step:

    step(np) = compute(rows per rank) + node_sum(S) + between_nodes(S, nodes)
    compute(r)          = a + c * r                 measured here by tests/perf/step_bench
    node_sum(S, k)      = max(measured 2-rank sum, 2 * k * S / node memory bandwidth): each of
                          the k ranks of a node writes S and reads about S (its slice of every
                          slot, then the result), all through the node's memory
    between_nodes(S, n) = 2 * (ceil(log2 n) * alpha + S / beta)   reduce, then broadcast, both
                          pipelined trees over n nodes (latency alpha, bandwidth beta)

S is the gradient in bytes (79,512 floats = 318 KB for 784-100-10). The network constants are
assumptions (given on the command line), not measurements.

    tests/perf/scaling_model.py --a-us 84 --c-us 2.7 --node-us 25 [--alpha-us 2 --beta-gbs 12.5]
"""
import argparse
import math


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a-us", type=float, required=True, help="compute: fixed part per step (us)")
    p.add_argument("--c-us", type=float, required=True, help="compute: per row on a rank (us)")
    p.add_argument("--node-us", type=float, required=True, help="sum within a node (us per step)")
    p.add_argument("--alpha-us", type=float, default=2.0, help="network latency per message (us)")
    p.add_argument("--beta-gbs", type=float, default=12.5, help="network bandwidth (GB/s)")
    p.add_argument("--ranks-per-node", type=int, default=32)
    p.add_argument("--node-bw-gbs", type=float, default=100.0, help="memory bandwidth of a node (GB/s)")
    p.add_argument("--params", type=int, default=79510)
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--batches", default="100,1024", help="global batch sizes, comma-separated")
    args = p.parse_args()
    size = 4 * (args.params + 2)

    def step_us(np_, batch):
        rows = math.ceil(batch / np_)
        nodes = math.ceil(np_ / args.ranks_per_node)
        compute = args.a_us + args.c_us * rows
        k = min(np_, args.ranks_per_node)
        node = max(args.node_us, 2 * k * size / (args.node_bw_gbs * 1e3)) if np_ > 1 else 0.0
        between = 0.0 if nodes == 1 else 2 * (math.ceil(math.log2(nodes)) * args.alpha_us + size / (args.beta_gbs * 1e3))
        return compute, node + between

    print(f"assumed: network latency {args.alpha_us} us, bandwidth {args.beta_gbs} GB/s; "
          f"{args.ranks_per_node} ranks per node, node memory {args.node_bw_gbs} GB/s; "
          f"gradient {size / 1e3:.0f} KB")
    for batch in (int(b) for b in args.batches.split(",")):
        print(f"\nglobal batch {batch} ({math.ceil(args.samples / batch)} steps per epoch):\n")
        print("| np | rows per rank | compute us/step | reduction us/step | epoch s | speed-up vs np=1 |")
        print("|---|---|---|---|---|---|")
        base = None
        for np_ in (1, 2, 4, 8, 16, 32, 64, 128, 256):
            if np_ > batch:
                print(f"| {np_} | - | - | - | - | batch {batch} < {np_} ranks |")
                continue
            compute, reduce_ = step_us(np_, batch)
            epoch = math.ceil(args.samples / batch) * (compute + reduce_) * 1e-6
            base = base or epoch
            print(f"| {np_} | {math.ceil(batch / np_)} | {compute:.0f} | {reduce_:.0f} | {epoch:.3f} | {base / epoch:.1f}x |")


if __name__ == "__main__":
    main()
