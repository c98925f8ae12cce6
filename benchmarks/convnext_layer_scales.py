"""Where ConvNeXt's layer scales stay a multiply and an add through the export front end: the strides
of each dense conv's input, weight and output in torch.export's graph (raw, then after the inference
decompositions), and, after ifx_torch's export passes, the producers of every add operand that is
NCHW-contiguous (fuse_multiply_add leaves an add whose operands' layouts differ, since addcmul
would return the other layout).

    python3 benchmarks/convnext_layer_scales.py [--device cuda|cpu]

convnext_tiny in fp16 channels_last at batch 1 on CUDA (float32 on the CPU).
"""
import argparse
import warnings

import torch

import ifx_torch
from ifx_torch import bench


def strides(v):
    return (tuple(v.shape), v.stride()) if isinstance(v, torch.Tensor) else type(v).__name__


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(parser.parse_args().device)
    dtype = torch.half if device.type == "cuda" else torch.float32
    warnings.simplefilter("ignore")
    model = bench.load_model("torchvision:convnext_tiny").eval().to(device, dtype).to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, 224, 224, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        program = torch.export.export(model, (x,))
        for title, graph in (("torch.export", program.graph), ("decomposed", program.run_decompositions().graph)):
            print(f"== {title}: dense convs")
            for node in graph.nodes:
                if node.op == "call_function" and "conv" in str(node.target) and node.args[1].meta["val"].shape[1] != 1:
                    print(" ", node.name, [strides(a.meta["val"]) for a in node.args[:2]], "->",
                          strides(node.meta["val"]), "| input from", node.args[0].name)
        optimized = ifx_torch.optimize(model, (x,), cuda_graphs=False, frontend="export")
    print("== after ifx_torch's passes: NCHW-contiguous add operands and their producers")
    for node in optimized.graph.nodes:
        if node.target is not torch.ops.aten.add.Tensor:
            continue
        for operand in node.args:
            value = operand.meta.get("val") if hasattr(operand, "meta") else None
            if isinstance(value, torch.Tensor) and value.dim() == 4 and value.shape[1] > 1 and value.is_contiguous():
                print(" ", node.name, "operand", operand.name)
                producer = operand
                for _ in range(6):
                    if getattr(producer, "op", None) != "call_function":
                        break
                    print("     ", producer.name, producer.target,
                          [strides(a.meta.get("val")) for a in producer.args if hasattr(a, "meta")])
                    producer = producer.args[0]
    print("addcmul:", sum(n.target is torch.ops.aten.addcmul.default for n in optimized.graph.nodes))


if __name__ == "__main__":
    main()
