"""Show the library version, the registered models and the backbone weights they can start from."""

from __future__ import annotations

import argparse
import json

NAME = "info"
HELP = "show version, registered models and known backbone weights"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def run(args: argparse.Namespace) -> int:
    """Print the information."""
    import torch
    import torchvision

    from .. import __version__, list_models
    from ..weights import BACKBONE_WEIGHTS_BY_ARCH

    weights = {
        arch: {m: f"{w.repo_id}@{w.revision}" for m, w in cls.__members__.items()}
        for arch, cls in BACKBONE_WEIGHTS_BY_ARCH.items()
    }
    info = {
        "maskrcnn_custom": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "models": list_models(),
        "backbone_weights": weights,
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
            else:
                print(f"{key}: {value}")
    return 0
