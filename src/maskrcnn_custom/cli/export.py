"""Export trained weights to an ONNX file for ONNX Runtime (score and mask thresholds stay run-time inputs)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "export"
HELP = "export trained weights to ONNX"

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    from ..export.onnx import DEFAULT_OPSET

    parser.add_argument(
        "--weights",
        required=True,
        help="a save_pretrained folder or a Hub repo id ('org/name' or 'org/name@rev')",
    )
    parser.add_argument("--out", required=True, type=Path, help="output .onnx file")
    parser.add_argument("--format", default="onnx", choices=["onnx"], help="export format")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (>= 11)")
    parser.add_argument(
        "--image-size", type=int, default=256, help="side of the example image used for tracing"
    )
    parser.add_argument("--max-detections", type=int, default=None, help="most detections per image")
    parser.add_argument("--num-proposals", type=int, default=None, help="RPN proposals per image")
    parser.add_argument("--no-check", action="store_true", help="skip onnx.checker")
    parser.add_argument(
        "--batch-size", type=int, default=1, help="images per run of the graph, fixed in the file (default 1)"
    )
    parser.add_argument(
        "--quantize", choices=["int8"], default=None, help="int8: ONNX Runtime static quantization"
    )
    parser.add_argument(
        "--calibration",
        nargs="+",
        default=None,
        help="with --quantize int8: a handful of representative image files or folders",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run(args: argparse.Namespace) -> int:
    """Export the model."""
    from .._utils.atomic import check_overwrite
    from ..export.onnx import require_onnx
    from ..inference import check_model
    from .predict import load_model

    check_overwrite(args.out, overwrite=args.overwrite, switch="--overwrite", what="--out")
    require_onnx()  # fail before the weights are loaded
    from ..export import check_calibration, export_onnx
    from .predict import expand_images

    calibration = None
    if args.quantize is None and args.calibration:
        raise ValueError("--calibration is only used with --quantize int8; add --quantize int8 or drop it")
    if args.quantize == "int8":
        if not args.calibration:
            raise ValueError(
                "--quantize int8 needs --calibration IMAGES (a handful of representative images)"
            )
        calibration = [str(p) for p in expand_images(args.calibration)]
        check_calibration(calibration, name="--calibration")  # every image, before the weights are loaded
    model = check_model(load_model(args.weights, "cpu"), name="--weights")
    path = export_onnx(
        model,
        args.out,
        opset=args.opset,
        image_size=args.image_size,
        max_detections=args.max_detections,
        num_proposals=args.num_proposals,
        check=not args.no_check,
        batch_size=args.batch_size,
        quantize=args.quantize,
        calibration=calibration,
        overwrite=args.overwrite,
    )
    print(path)
    return 0
