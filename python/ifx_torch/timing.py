"""Latency measurement shared by the demo and the benchmarks."""
import statistics
import time

import torch


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sync_latencies_ms(fn, x, calls, device):
    """Wall time of each of `calls` calls of fn(x), synchronizing the device before and after each."""
    samples = []
    for _ in range(calls):
        synchronize(device)
        start = time.perf_counter()
        fn(x)
        synchronize(device)
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def percentile(samples, p):
    """Nearest rank, sorted[int(p * n)]: the rule ifx_run uses too, so Python and C++ report the
    same statistic."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def median_latencies_ms(variants, x, iters, device, rounds=5):
    """Median wall time of one call per variant, synchronizing the device after each call.
    Variants take turns in `rounds` rounds, so a passing slowdown of the machine (clocks,
    other processes) cannot land on one variant alone."""
    samples = {name: [] for name in variants}
    with torch.no_grad():
        for fn in variants.values():  # warm-up, includes TorchScript's profiling runs
            for _ in range(max(3, iters // 10)):
                fn(x)
        for _ in range(rounds):
            for name, fn in variants.items():
                samples[name] += sync_latencies_ms(fn, x, max(1, iters // rounds), device)
    return {name: statistics.median(times) for name, times in samples.items()}


def queued_call_us(fn, calls=5, repeats=3, warmup=2):
    """GPU time of one call of fn() as the first-call conv tuning measures it (conv2d_act_cuda.cpp's
    time_us): CUDA events around `calls` calls queued behind a spinning kernel, so the GPU runs them
    back to back, gaps between kernels included, host launch cost excluded; the best of `repeats`."""
    for _ in range(warmup):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = float("inf")
    for _ in range(repeats):
        torch.cuda._sleep(1_000_000)
        start.record()
        for _ in range(calls):
            fn()
        stop.record()
        stop.synchronize()
        best = min(best, 1e3 * start.elapsed_time(stop) / calls)
    return best
