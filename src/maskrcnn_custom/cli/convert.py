"""Convert an old ``torch.save(model.state_dict())`` checkpoint (the seed recipe's) into a save_pretrained folder.

The checkpoint is read with ``torch.load(weights_only=True)``, every key and shape is checked against the
model described by the options, and ``config.json``, ``model.safetensors`` and ``README.md`` are written.
Load the result with ``from_pretrained(OUT_DIR)``.
"""

from __future__ import annotations

import argparse
import json

NAME = "convert"
HELP = "convert a seed-style .pth state dict into a save_pretrained folder (safetensors)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("pth", help="the .pth file written by torch.save(model.state_dict())")
    parser.add_argument("out_dir", help="folder to write config.json, model.safetensors and README.md to")
    parser.add_argument(
        "--arch",
        default="resnet101",
        choices=("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"),
        help="backbone of the checkpoint (the seed's is resnet101)",
    )
    parser.add_argument(
        "--num-classes", type=int, default=None, help="classes incl. background (default: read from the file)"
    )
    parser.add_argument(
        "--backbone-norm",
        default="frozen_bn",
        choices=("frozen_bn", "bn", "gn"),
        help="normalisation of the checkpoint's ResNet (the seed's is frozen_bn: no num_batches_tracked keys)",
    )
    parser.add_argument(
        "--class-names", default=None, help="comma-separated class names, background first (e.g. bg,rod)"
    )
    parser.add_argument(
        "--config",
        default=None,
        help="a JSON file holding the checkpoint's MaskRCNNConfig (config.to_dict()); overrides --arch/--backbone-norm",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    """Convert the checkpoint and print where it went."""
    from pathlib import Path

    from ..hub.convert import convert_checkpoint
    from ..models.config import MaskRCNNConfig

    config = None
    if args.config is not None:
        path = Path(args.config)
        if not path.is_file():
            raise FileNotFoundError(f"--config {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"--config {str(path)!r} is not valid JSON: {exc}") from exc
        for key in ("library_name", "library_version", "format_version"):
            data.pop(key, None)  # accept a save_pretrained config.json as well
        config = MaskRCNNConfig.from_dict(data)
    names = None if args.class_names is None else [n.strip() for n in args.class_names.split(",")]
    kwargs = {} if config is not None else {"arch": args.arch, "backbone_norm": args.backbone_norm}
    out = convert_checkpoint(
        args.pth, args.out_dir, config=config, num_classes=args.num_classes, class_names=names, **kwargs
    )
    if args.json:
        print(json.dumps({"out_dir": str(out), "files": sorted(p.name for p in out.iterdir())}))
    else:
        print(f"wrote {out} (load it with maskrcnn_custom.from_pretrained({str(out)!r}))")
    return 0
