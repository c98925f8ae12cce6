"""The export front end against the TorchScript one, with replay: per case, both optimized modules
wrapped in CudaGraphModule and both captured by hand (a bare CUDAGraph), median latency of 5 rounds
of 100 calls taking turns, then kernels, GPU busy time, span and gaps of one forward, and the
kernels whose counts differ (or, where the two lists match, the largest per-kernel slowdowns).

    python3 benchmarks/export_gap.py [NAME:CONFIG:BATCH ...]   (e.g. torchvision:convnext_tiny:fp16-cl:1)

CUDA only; without arguments, four cases from the zoo sweep."""
import collections
import statistics
import sys
import warnings

import torch

import ifx_torch
from ifx_torch import bench
from ifx_torch.graph_replay import CudaGraphModule
from ifx_torch.timing import sync_latencies_ms
warnings.simplefilter("ignore")
if not torch.cuda.is_available():
    sys.exit("export_gap: needs a CUDA device")
dev = torch.device("cuda")
cases = [("torchvision:resnet18", "fp16-cl", 1), ("torchvision:convnext_tiny", "fp16-cl", 1),
         ("torchvision:mobilenet_v3_large", "fp32", 1), ("torchvision:resnet18", "fp32", 8)]
if len(sys.argv) > 1:  # NAME:CONFIG:BATCH ...
    cases = [(a.rsplit(":", 2)[0], a.rsplit(":", 2)[1], int(a.rsplit(":", 2)[2])) for a in sys.argv[1:]]


def prep(name, config):
    m = bench.load_model(name).eval().to(dev)
    dtype = torch.float16 if config.startswith("fp16") else torch.float32
    fmt = torch.channels_last if config.endswith("-cl") else torch.contiguous_format
    return m.to(dtype).to(memory_format=fmt), dtype, fmt
for name, config, batch in cases:
    m, dtype, fmt = prep(name, config)
    x = torch.randn(batch, 3, 224, 224, device=dev, dtype=dtype).to(memory_format=fmt)
    with torch.no_grad():
        ts = ifx_torch.optimize(m, (x,), cuda_graphs=False)
        ex = ifx_torch.optimize(m, (x,), cuda_graphs=False, frontend="export")
        v = {"ts+graphs": CudaGraphModule(ts), "export+graphs": CudaGraphModule(ex),
             "ts bare": bench.hand_made_graph(ts, x), "export bare": bench.hand_made_graph(ex, x)}
        for f in v.values():
            for _ in range(5): f(x)
        lat = collections.defaultdict(list)
        for r in range(5):
            for k, f in v.items():
                lat[k] += sync_latencies_ms(f, x, 100, dev)
        print(f"## {name} {config} b{batch}")
        kern = {}
        for k, f in v.items():
            ks = bench.cuda_kernels(f, x, dev)
            kern[k] = ks
            busy = bench.covered_us((s, e) for _, s, e in ks)
            span = (max(e for _, _, e in ks) - min(s for _, s, _ in ks)) if ks else 0
            print(f"{k:14s} median {statistics.median(lat[k])*1e3:8.1f} us  kernels {len(ks):4d}  busy {busy:8.1f} us  span {span:8.1f} us  gaps {span-busy:7.1f}")
        a = [n for n, _, _ in kern["ts bare"]]; b = [n for n, _, _ in kern["export bare"]]
        if a != b:
            ca, cb = collections.Counter(a), collections.Counter(b)
            for n in sorted(set(ca) | set(cb)):
                if ca[n] != cb[n]: print(f"   kernel diff {ca[n]:3d} ts / {cb[n]:3d} export  {n[:110]}")
        # per-kernel duration difference, aligned when the sequences match
        if a == b:
            d = sorted(((e2 - s2) - (e1 - s1), n) for (n, s1, e1), (_, s2, e2) in zip(kern["ts bare"], kern["export bare"]))
            print("   largest per-kernel slowdowns export-ts (us):", [(round(t, 1), n[:60]) for t, n in d[-4:]])
    sys.stdout.flush()
