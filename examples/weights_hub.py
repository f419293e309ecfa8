"""Save a model as a folder, load it back, and (with --push) upload it to the Hugging Face Hub.

    python examples/weights_hub.py --out my-model                    # save + load locally
    python examples/weights_hub.py --out my-model --push you/rods    # also push (needs `huggingface-cli login`)
    python examples/weights_hub.py --fast                            # ResNet-18, a temp folder (CI)

The folder holds config.json (architecture, class names, library version), model.safetensors, a README.md
model card and checksums.json (SHA-256 of each file, verified on load); from_pretrained() reads the same layout from a folder or a Hub repo id ("org/name@revision").
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from maskrcnn_custom import (
    from_pretrained,
    maskrcnn_resnet18_fpn,
    maskrcnn_resnet101_fpn,
    push_to_hub,
    save_pretrained,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder to save to (default: a temporary folder)")
    parser.add_argument(
        "--push", metavar="REPO", help="also push to this Hub repository, e.g. you/rods-maskrcnn"
    )
    parser.add_argument("--private", action="store_true", help="create the Hub repository as private")
    parser.add_argument("--fast", action="store_true", help="ResNet-18 (seconds)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="weights-hub-")) / "model"

    build = maskrcnn_resnet18_fpn if args.fast else maskrcnn_resnet101_fpn
    model = build(weights_backbone=None, num_classes=3, class_names=("background", "rod", "fibre"))
    folder = save_pretrained(model, out, metrics={"segm_AP": 0.0}, notes="Untrained example weights.")
    print(f"saved: {folder} ({', '.join(sorted(p.name for p in folder.iterdir()))})")

    loaded = from_pretrained(folder)
    same = all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    print(
        f"loaded: {loaded.config.backbone.name}, classes {loaded.config.class_names}, identical weights: {same}"
    )
    if not same:
        raise SystemExit("the loaded weights differ from the saved ones")

    if args.push:
        url = push_to_hub(model, args.push, private=args.private)
        print(f"pushed: {url}")
        print(f'load it anywhere with from_pretrained("{args.push}")')


if __name__ == "__main__":
    main()
