"""Latency measurement shared by the demo and the benchmarks."""
import statistics
import time

import torch


def median_latencies_ms(variants, x, iters, device, rounds=5):
    """Median wall time of one call per variant, synchronizing the device after each call.
    Variants take turns in `rounds` rounds, so a passing slowdown of the machine (clocks,
    other processes) cannot land on one variant alone."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    samples = {name: [] for name in variants}
    with torch.no_grad():
        for fn in variants.values():  # warm-up, includes TorchScript's profiling runs
            for _ in range(max(3, iters // 10)):
                fn(x)
        for _ in range(rounds):
            for name, fn in variants.items():
                for _ in range(max(1, iters // rounds)):
                    sync()
                    start = time.perf_counter()
                    fn(x)
                    sync()
                    samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(times) for name, times in samples.items()}
