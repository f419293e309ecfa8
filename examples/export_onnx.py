"""Export a Mask R-CNN to ONNX and run it with ONNX Runtime; compare with PyTorch.

    python examples/export_onnx.py --model demo/model --out model.onnx
    python examples/export_onnx.py --fast              # ResNet-18 at 64 px, a temp folder (CI)

Needs the [onnx] extra: pip install "maskrcnn-custom[onnx]". The score and mask thresholds are inputs of the
graph, so one file serves every threshold.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from maskrcnn_custom import (
    OnnxPredictor,
    SyntheticElongatedDataset,
    export_onnx,
    from_pretrained,
    maskrcnn_resnet18_fpn,
    predict,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="save_pretrained folder or Hub repo id (default: a fresh ResNet-18)")
    parser.add_argument("--out", type=Path, help="ONNX file (default: model.onnx in a temporary folder)")
    parser.add_argument("--score-threshold", type=float, default=0.05)
    parser.add_argument("--fast", action="store_true", help="ResNet-18 at 64 px (seconds)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="export-onnx-")) / "model.onnx"

    if args.model:
        model = from_pretrained(args.model)
    else:
        size = 64 if args.fast else 256
        torch.manual_seed(0)
        model = maskrcnn_resnet18_fpn(weights_backbone=None, min_size=size, max_size=size)
    size = int(model.transform.min_size[0])

    t = time.perf_counter()
    path = export_onnx(model, out, image_size=size)
    print(f"exported: {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")

    image = SyntheticElongatedDataset(1, image_size=size, seed=3)[0][0]
    session = OnnxPredictor(path)
    [onnx_pred] = session.predict(image, score_threshold=args.score_threshold)
    [torch_pred] = predict(model, image, score_threshold=args.score_threshold)
    print(f"onnxruntime: {len(onnx_pred)} detections; torch: {len(torch_pred)} detections")
    n = min(len(onnx_pred), len(torch_pred))
    if n:
        diff = (onnx_pred.boxes[:n] - torch_pred.boxes[:n]).abs().max().item()
        print(f"max box difference: {diff:.4f} px")


if __name__ == "__main__":
    main()
