"""Segment image files with a trained model and write COCO results, label images, instance masks and overlays.

Output folder layout: ``predictions.json`` (COCO detection results with RLE masks), ``images.json`` (the
COCO ``images`` entries the ids refer to), ``labels/<name>.png`` (16-bit label images: 0 background,
k = detection k-1), ``masks/<name>_<k>.png`` (one 8-bit PNG per detection) and ``overlays/<name>.png``.
With ``--measurements FILE.csv|FILE.json``, the shape measurements of every detection (length along the
medial axis, widths, oriented box, orientation, elongation, tortuosity) are written to FILE and added to
``predictions.json`` (key ``measurements``). Outputs that already exist in the folder are refused (before the
model is loaded) unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "HELP", "IMAGE_SUFFIXES", "NAME", "add_arguments", "expand_images", "load_model", "run"]

NAME = "predict"
HELP = "segment images with trained weights; write COCO results, label images and overlays"

#: File suffixes picked up when a folder is given.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
FORMATS = ("coco", "labels", "masks", "overlays")

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("images", nargs="+", help="image files, or folders of images")
    parser.add_argument(
        "--weights",
        required=True,
        help="a save_pretrained folder or a Hub repo id ('org/name' or 'org/name@rev')",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    parser.add_argument(
        "--score-threshold", type=float, default=0.5, help="keep detections with score above this"
    )
    parser.add_argument("--mask-threshold", type=float, default=0.5, help="mask probability threshold")
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument("--max-detections", type=int, default=None, help="most detections per image")
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="bfloat16 runs backbone and heads in bfloat16; boxes, NMS and mask pasting stay float32",
    )
    parser.add_argument(
        "--formats",
        default="coco,labels,overlays",
        help=f"comma-separated outputs to write, from {', '.join(FORMATS)}",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    # --- tiled inference ---
    parser.add_argument(
        "--tile-size",
        type=int,
        default=None,
        metavar="PX",
        help="segment large images in overlapping square tiles of PX pixels (e.g. the model's input size)",
    )
    parser.add_argument(
        "--tile-overlap",
        type=float,
        default=0.25,
        metavar="FRACTION",
        help="overlap of neighbouring tiles as a fraction of --tile-size, in [0, 1) (default 0.25)",
    )
    # --- end tiled inference ---
    parser.add_argument(
        "--measurements",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write shape measurements of every detection (length, widths, oriented box, ...) to "
        "FILE.csv or FILE.json, and add them to predictions.json",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs in --out (and an existing --measurements file); refused without it",
    )


def expand_images(paths: list[str]) -> list[Path]:
    """Expand folders into their image files (sorted); keep files as given; fail on paths that do not exist."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"folder {str(p)!r} has no image files ({', '.join(IMAGE_SUFFIXES)})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"no image file or folder at {str(p)!r}")
    return out


def _stems(paths: list[Path]) -> list[str]:
    stems = [p.stem for p in paths]
    dupes = {s for s in stems if stems.count(s) > 1}
    return [f"{s}_{i}" if s in dupes else s for i, s in enumerate(stems)]


def _check_outputs(out: Path, stems: list[str], formats: list[str], *, overwrite: bool) -> None:
    """Refuse (before any work) when a file this run would write already exists in ``out``."""
    from .._utils.atomic import check_overwrite
    from ..inference.writers import instance_mask_files

    paths = [out / "images.json"]
    if "coco" in formats:
        paths.append(out / "predictions.json")
    for stem in stems:
        if "labels" in formats:
            paths.append(out / "labels" / f"{stem}.png")
        if "overlays" in formats:
            paths.append(out / "overlays" / f"{stem}.png")
        if "masks" in formats:
            paths.extend(instance_mask_files(out / "masks", stem))
    check_overwrite(paths, overwrite=overwrite, switch="--overwrite", what="--out")


def load_model(weights: str, device: str | None) -> Any:
    """Load a model with :func:`maskrcnn_custom.hub.from_pretrained` (a folder or a Hub repo id)."""
    from ..hub import from_pretrained

    model = from_pretrained(weights, progress=False)
    return model if device is None else model.to(device)


def run(args: argparse.Namespace) -> int:
    """Run the predictions and write the outputs."""
    from .._utils.atomic import atomic_path
    from .._utils.progress import progress_bar
    from ..inference import (
        check_images,
        check_model,
        load_image,
        predict,
        save_instance_masks,
        save_label_image,
        save_overlay,
    )
    from ..inference.writers import to_coco_results

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"--formats: unknown {unknown or 'empty list'}; choose from {', '.join(FORMATS)}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.tile_size is not None:  # tiled inference: bad tile settings fail before anything is loaded
        from ..inference.tiling import _check_tile_args

        try:
            _check_tile_args(args.tile_size, args.tile_overlap)
        except ValueError as exc:
            raise ValueError(f"--tile-size/--tile-overlap: {exc}") from None
    # --- shape measurements: validate the output file before any work ---
    measurements_path = None
    if getattr(args, "measurements", None) is not None:
        from ..inference.measurements import check_measurements_path

        measurements_path = check_measurements_path(
            args.measurements, overwrite=args.overwrite, name="--measurements"
        )
    shape_rows: list[dict[str, Any]] = []
    # --- end shape measurements ---
    paths = expand_images(args.images)
    items = check_images(
        [str(p) for p in paths], name="IMAGES"
    )  # every file is checked before loading weights
    if "coco" in formats:
        from ..data.coco import import_pycocotools_mask

        import_pycocotools_mask()  # a missing [coco] extra fails before the model is loaded
    stems = _stems(paths)
    _check_outputs(args.out, stems, formats, overwrite=args.overwrite)
    model = check_model(load_model(args.weights, args.device), name="--weights")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    coco: list[dict[str, Any]] = []
    images_json: list[dict[str, Any]] = []
    bar = progress_bar(total=len(items), desc="predict", enabled=not args.no_progress, unit="img")
    try:
        for start in range(0, len(items), args.batch_size):
            chunk = items[start : start + args.batch_size]
            preds = predict(
                model,
                [item.data for item in chunk],
                score_threshold=args.score_threshold,
                mask_threshold=args.mask_threshold,
                batch_size=args.batch_size,
                max_detections=args.max_detections,
                tile_size=args.tile_size,  # tiled inference when given
                tile_overlap=args.tile_overlap,
                precision=args.precision,
            )
            for item, pred in zip(chunk, preds, strict=True):
                i, stem = item.index, stems[item.index]
                image_id = i + 1
                h, w = pred.image_size
                images_json.append({"id": image_id, "file_name": str(paths[i]), "height": h, "width": w})
                if "coco" in formats:
                    coco.extend(
                        to_coco_results([pred], image_ids=[image_id], measure=measurements_path is not None)
                    )
                if measurements_path is not None:
                    from ..inference import measurement_rows

                    shape_rows.extend(
                        measurement_rows([pred], image_ids=[image_id], file_names=[str(paths[i])])
                    )
                if "labels" in formats:
                    save_label_image(pred, out / "labels" / f"{stem}.png", overwrite=args.overwrite)
                if "masks" in formats:
                    save_instance_masks(pred, out / "masks", stem=stem, overwrite=args.overwrite)
                if "overlays" in formats:
                    save_overlay(
                        load_image(item), pred, out / "overlays" / f"{stem}.png", overwrite=args.overwrite
                    )
                logger.debug("%s: %d detections", paths[i], len(pred))
            bar.update(len(chunk))
    finally:
        bar.close()
    if "coco" in formats:
        with atomic_path(out / "predictions.json") as tmp:
            tmp.write_text(json.dumps(coco))
    with atomic_path(out / "images.json") as tmp:
        tmp.write_text(json.dumps(images_json, indent=1))
    if measurements_path is not None:
        from ..inference import save_measurements

        save_measurements(shape_rows, measurements_path, overwrite=args.overwrite)
    n = len(coco) if "coco" in formats else None
    logger.info(
        "wrote %s for %d images%s",
        ", ".join(formats),
        len(items),
        f" ({n} detections)" if n is not None else "",
    )
    return 0
