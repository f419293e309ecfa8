"""COCO-format instance-segmentation datasets: an images folder plus an annotations JSON.

The annotations file is checked when the dataset is created, before any image is read: a file that does
not follow COCO (missing keys, wrong types, unknown image or category ids, duplicate ids, malformed
segmentations) raises a ``ValueError`` that names the file and the offending image or annotation.

Targets follow the library's conventions (see :class:`CocoDataset`):

* Category ids (any integers) are remapped to contiguous labels ``1..K`` in increasing id order;
  :attr:`CocoDataset.category_ids` keeps the mapping and :meth:`CocoDataset.labels_to_category_ids` maps
  predictions back.
* Boxes are the tight boxes of the decoded masks (``x2`` = last column + 1), so boxes and masks always
  agree. The JSON ``bbox`` is only checked: a degenerate or out-of-image ``bbox`` is reported with a
  ``warnings.warn`` naming the annotation id and replaced by the mask's box; an annotation whose mask is
  empty inside the image is dropped with a warning.
* Crowd regions (``iscrowd=1``) are left out of the targets by default, as torchvision's detection
  reference does for training (``keep_crowd=True`` keeps them, flagged in ``target["iscrowd"]``).
* Images without annotations are kept, with empty targets (``boxes`` of shape ``(0, 4)``, ``masks`` of
  shape ``(0, H, W)``): they teach the model what background looks like.

Masks are decoded with ``pycocotools`` (the ``[coco]`` extra): polygons, uncompressed RLE (``counts`` a
list) and compressed RLE (``counts`` a string).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .._utils.checks import is_int, is_number
from .._utils.optional import require
from .boxes import masks_to_tight_boxes
from .images import read_image

__all__ = ["CocoDataset", "coco_result_records", "encode_rle", "import_pycocotools_mask", "load_coco_json"]


def import_pycocotools_mask() -> Any:
    """Import ``pycocotools.mask``, or say how to install it.

    Returns:
        The ``pycocotools.mask`` module.

    Raises:
        ImportError: If pycocotools is not installed, naming the ``[coco]`` extra.

    Examples:
        >>> mask_api = import_pycocotools_mask()
    """
    return require("pycocotools.mask", extra="coco", purpose="reading and writing COCO masks")


def encode_rle(masks: np.ndarray | torch.Tensor, *, mask_api: Any = None) -> list[dict[str, Any]]:
    """Encode binary masks as COCO compressed RLE, ready for JSON.

    Args:
        masks: ``(N, H, W)`` masks; any non-zero pixel is foreground.
        mask_api: A ``pycocotools.mask``-compatible module (e.g. faster-coco-eval's); default pycocotools.

    Returns:
        One ``{"size": [H, W], "counts": str}`` dict per mask (empty list for ``N = 0``).

    Raises:
        ImportError: If pycocotools is needed and not installed, naming the ``[coco]`` extra.
        ValueError: If ``masks`` is not three-dimensional.

    Examples:
        >>> import numpy as np
        >>> m = np.zeros((1, 4, 4), np.uint8); m[0, 1:3, 1:3] = 1
        >>> encode_rle(m)[0]["size"]
        [4, 4]
    """
    if isinstance(masks, torch.Tensor):
        masks = masks.detach().cpu().numpy()
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be N x H x W, got shape {masks.shape}")
    if masks.shape[0] == 0:
        return []
    api = mask_api if mask_api is not None else import_pycocotools_mask()
    rles = api.encode(np.asfortranarray((masks != 0).transpose(1, 2, 0).astype(np.uint8)))
    return [
        {
            "size": [int(v) for v in rle["size"]],
            "counts": rle["counts"].decode("ascii") if isinstance(rle["counts"], bytes) else rle["counts"],
        }
        for rle in rles
    ]


def coco_result_records(
    image_id: int,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[int],
    scores: Sequence[float],
    rles: Sequence[Mapping[str, Any]] | None,
    *,
    category_ids: Mapping[int, int] | None = None,
    decimals: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Build COCO detection results (``loadRes`` / ``COCOeval`` format) for one image.

    The one conversion behind :func:`maskrcnn_custom.engine.predictions_to_coco` (raw model outputs) and
    :func:`maskrcnn_custom.inference.to_coco_results` (:class:`~maskrcnn_custom.Prediction` objects).

    Args:
        image_id: COCO image id.
        boxes: ``[x1, y1, x2, y2]`` per detection; written as XYWH.
        labels: Model label per detection.
        scores: Score per detection.
        rles: Compressed RLE per detection (see :func:`encode_rle`), or ``None`` for box-only results.
        category_ids: Model label -> COCO category id (default: the label itself).
        decimals: Round ``bbox`` and ``score`` to ``(box_decimals, score_decimals)`` (default: no rounding).

    Returns:
        One dict per detection with ``image_id``, ``category_id``, ``bbox``, ``score`` (and ``segmentation``).

    Raises:
        ValueError: If a label has no entry in ``category_ids``.

    Examples:
        >>> from maskrcnn_custom.data.coco import coco_result_records
        >>> coco_result_records(3, [[1.0, 1.0, 4.0, 2.0]], [1], [0.9], None)[0]["bbox"]
        [1.0, 1.0, 3.0, 1.0]
    """
    results: list[dict[str, Any]] = []
    for k, (box, label, score) in enumerate(zip(boxes, labels, scores, strict=True)):
        label = int(label)
        if category_ids is not None and label not in category_ids:
            raise ValueError(f"category_ids has no entry for label {label}; map every model label")
        x1, y1, x2, y2 = (float(v) for v in box)
        bbox = [x1, y1, x2 - x1, y2 - y1]
        value = float(score)
        if decimals is not None:
            bbox = [round(v, decimals[0]) for v in bbox]
            value = round(value, decimals[1])
        record: dict[str, Any] = {
            "image_id": int(image_id),
            "category_id": int(category_ids[label] if category_ids is not None else label),
            "bbox": bbox,
            "score": value,
        }
        if rles is not None:
            record["segmentation"] = rles[k]
        results.append(record)
    return results


def _unique_ids(path: Path, records: list[Any], section: str, kind: str, str_key: str | None) -> set[int]:
    """Check that every record of a COCO ``section`` is an object with a unique int ``id`` (and a str ``str_key``)."""
    ids: set[int] = set()
    need = f"an int 'id' and a str {str_key!r}" if str_key else "an int 'id'"
    for i, rec in enumerate(records):
        if (
            not isinstance(rec, dict)
            or not is_int(rec.get("id"))
            or (str_key is not None and not isinstance(rec.get(str_key), str))
        ):
            raise ValueError(f"{path}: {section}[{i}] must be an object with {need}, got {rec!r}")
        if rec["id"] in ids:
            raise ValueError(f"{path}: {kind} id {rec['id']} appears twice in {section!r}")
        ids.add(rec["id"])
    return ids


def load_coco_json(path: str | Path) -> dict[str, Any]:
    """Read a COCO annotations file and check its structure.

    Args:
        path: The annotations JSON.

    Returns:
        The parsed JSON, with ``annotations`` defaulting to an empty list.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not JSON or does not follow COCO, naming the file and the image, annotation
            or category at fault.

    Examples:
        >>> coco = load_coco_json("datasets/train/annotations.json")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotations file {path} does not exist")
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a COCO annotations file holds a JSON object, got {type(data).__name__}")
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(
                f"{path}: COCO annotations need a list {key!r}, got {type(data.get(key)).__name__}"
            )
    anns = data.setdefault("annotations", [])
    if not isinstance(anns, list):
        raise ValueError(f"{path}: 'annotations' must be a list, got {type(anns).__name__}")

    cat_ids = _unique_ids(path, data["categories"], "categories", "category", "name")
    img_ids = _unique_ids(path, data["images"], "images", "image", "file_name")
    for img in data["images"]:
        for key in ("width", "height"):
            if not is_int(img.get(key)) or img[key] <= 0:
                raise ValueError(
                    f"{path}: image id {img['id']} needs a positive int {key!r}, got {img.get(key)!r}"
                )
    _unique_ids(path, anns, "annotations", "annotation", None)
    for ann in anns:
        where = f"{path}: annotation id {ann['id']}"
        if ann.get("image_id") not in img_ids:
            raise ValueError(f"{where} refers to image_id {ann.get('image_id')!r}, which is not in 'images'")
        if ann.get("category_id") not in cat_ids:
            raise ValueError(
                f"{where} refers to category_id {ann.get('category_id')!r}, which is not in 'categories'"
            )
        if ann.get("iscrowd", 0) not in (0, 1):
            raise ValueError(f"{where}: 'iscrowd' must be 0 or 1, got {ann.get('iscrowd')!r}")
        bbox = ann.get("bbox")
        if bbox is not None and (
            not isinstance(bbox, list) or len(bbox) != 4 or not all(is_number(v) for v in bbox)
        ):
            raise ValueError(
                f"{where}: 'bbox' must be [x, y, width, height] (4 finite numbers), got {bbox!r}"
            )
        _check_segmentation(ann.get("segmentation"), where)
    return data


def _check_segmentation(seg: Any, where: str) -> None:
    if seg is None:
        raise ValueError(
            f"{where} has no 'segmentation'; Mask R-CNN needs a polygon or RLE mask for every instance"
        )
    if isinstance(seg, list):
        if not seg:
            raise ValueError(
                f"{where} has an empty polygon list ('segmentation': []); Mask R-CNN needs a mask for every "
                "instance: give it a polygon or an RLE, or remove the annotation"
            )
        for poly in seg:
            if (
                not isinstance(poly, list)
                or len(poly) < 6
                or len(poly) % 2
                or not all(is_number(v) for v in poly)
            ):
                raise ValueError(
                    f"{where}: each polygon of 'segmentation' must be a flat list [x1, y1, x2, y2, ...] of at "
                    f"least 3 points, got {str(poly)[:80]}"
                )
        return
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not isinstance(size, list) or len(size) != 2 or not all(is_int(s) and s >= 0 for s in size):
            raise ValueError(f"{where}: RLE 'segmentation' needs 'size': [height, width], got {size!r}")
        if isinstance(counts, list):
            if not all(is_int(c) and c >= 0 for c in counts) or sum(counts) != size[0] * size[1]:
                raise ValueError(
                    f"{where}: uncompressed RLE 'counts' must be non-negative ints summing to height * width "
                    f"= {size[0] * size[1]}"
                )
        elif not isinstance(counts, str):
            raise ValueError(
                f"{where}: RLE 'counts' must be a list of ints (uncompressed) or a string (compressed), "
                f"got {type(counts).__name__}"
            )
        else:
            runs = _compressed_rle_runs(counts, where)
            if any(r < 0 for r in runs) or sum(runs) != size[0] * size[1]:
                raise ValueError(
                    f"{where}: compressed RLE 'counts' cover {sum(runs)} pixels but its 'size' {size} has "
                    f"{size[0] * size[1]}; the RLE was encoded for another image size (re-encode the mask at "
                    "its image's height and width)"
                )
        return
    raise ValueError(
        f"{where}: 'segmentation' must be a list of polygons or an RLE object, got {type(seg).__name__}"
    )


def _compressed_rle_runs(counts: str, where: str) -> list[int]:
    """Run lengths of a COCO compressed RLE string (the inverse of pycocotools' ``rleToString``)."""
    runs: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError(f"{where}: compressed RLE 'counts' ends in the middle of a run length")
            c = ord(counts[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"{where}: compressed RLE 'counts' holds an invalid character {counts[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


class CocoDataset(Dataset):
    """Instance-segmentation dataset in COCO format.

    ``dataset[i]`` returns ``(image, target)`` like :class:`SyntheticElongatedDataset`: ``image`` a float32
    ``(3, H, W)`` tensor in ``[0, 1]`` (RGB), ``target`` with ``boxes`` (float32 ``(N, 4)`` XYXY, tight boxes
    of the masks), ``labels`` (int64, contiguous ``1..K``), ``masks`` (uint8 ``(N, H, W)``), ``image_id``
    (the COCO image id), ``area`` (float32 mask pixel counts) and ``iscrowd`` (int64).

    Args:
        images_dir: Folder the images' ``file_name`` paths are relative to.
        annotation_file: The COCO annotations JSON.
        transforms: Optional callable ``(image, target) -> (image, target)``, e.g.
            :func:`~maskrcnn_custom.data.train_transforms`.
        keep_crowd: Keep ``iscrowd=1`` regions in the targets (flagged in ``iscrowd``). By default they are
            left out, as in torchvision's detection reference.

    Raises:
        FileNotFoundError: If ``images_dir`` or ``annotation_file`` does not exist.
        ValueError: If the annotations do not follow COCO (naming the file and the entry).
        ImportError: If pycocotools is missing (``pip install "maskrcnn-custom[coco]"``).

    Examples:
        >>> from maskrcnn_custom.data import CocoDataset
        >>> ds = CocoDataset("datasets/train/images", "datasets/train/annotations.json")  # doctest: +SKIP
        >>> image, target = ds[0]  # doctest: +SKIP
    """

    def __init__(
        self,
        images_dir: str | Path,
        annotation_file: str | Path,
        *,
        transforms: Callable[[torch.Tensor, dict[str, Any]], tuple[torch.Tensor, dict[str, Any]]]
        | None = None,
        keep_crowd: bool = False,
    ) -> None:
        self._mask_api = import_pycocotools_mask()
        self.images_dir = Path(images_dir)
        if not self.images_dir.is_dir():
            raise FileNotFoundError(f"images_dir {self.images_dir} is not a folder")
        if transforms is not None and not callable(transforms):
            raise TypeError(
                f"transforms must be callable (image, target) -> (image, target), got {transforms!r}"
            )
        self.annotation_file = Path(annotation_file)
        data = load_coco_json(self.annotation_file)
        self.transforms = transforms
        self.keep_crowd = bool(keep_crowd)

        cats = sorted(data["categories"], key=lambda c: c["id"])
        #: COCO category id of each label: ``category_ids[label - 1]``.
        self.category_ids: tuple[int, ...] = tuple(int(c["id"]) for c in cats)
        #: Class name of each label: ``category_names[label - 1]``.
        self.category_names: tuple[str, ...] = tuple(str(c["name"]) for c in cats)
        self._label_of = {cid: i + 1 for i, cid in enumerate(self.category_ids)}
        self.images: list[dict[str, Any]] = list(data["images"])
        self._sizes = {img["id"]: (img["height"], img["width"]) for img in self.images}
        by_image: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in self.images}
        for ann in data["annotations"]:
            seg = ann["segmentation"]
            if isinstance(seg, dict) and list(seg["size"]) != list(self._sizes[ann["image_id"]]):
                raise ValueError(
                    f"annotation id {ann['id']} in {self.annotation_file}: RLE size {seg['size']} does not match "
                    f"its image's height, width {list(self._sizes[ann['image_id']])}; re-encode the mask at the "
                    "image's size"
                )
            if ann.get("iscrowd", 0) and not self.keep_crowd:
                continue
            if self._check_bbox(ann, image_size=self._sizes[ann["image_id"]]):
                by_image[ann["image_id"]].append(ann)
        self._anns = by_image
        self._warned: set[int] = set()

    @classmethod
    def from_dir(cls, root: str | Path, **kwargs: Any) -> CocoDataset:
        """Open the layout :func:`~maskrcnn_custom.data.export_coco` writes: ``root/images/`` + ``root/annotations.json``.

        Args:
            root: The dataset folder.
            **kwargs: Passed to :class:`CocoDataset`.

        Returns:
            The dataset.

        Examples:
            >>> ds = CocoDataset.from_dir("datasets/train")  # doctest: +SKIP
        """
        root = Path(root)
        return cls(root / "images", root / "annotations.json", **kwargs)

    # -- labels ---------------------------------------------------------------------------------------

    @property
    def num_classes(self) -> int:
        """Classes including the background: pass this as ``num_classes=`` to a model builder."""
        return len(self.category_ids) + 1

    def category_id_to_label(self, category_id: int) -> int:
        """Contiguous label (1..K) of a COCO category id."""
        try:
            return self._label_of[category_id]
        except KeyError:
            raise ValueError(f"category id {category_id!r} is not in {self.annotation_file}") from None

    def labels_to_category_ids(self, labels: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """Map contiguous labels (1..K), e.g. a model's predictions, back to COCO category ids.

        Args:
            labels: Labels in ``1..K``.

        Returns:
            int64 tensor of category ids.

        Raises:
            ValueError: If a label is outside ``1..K``.

        Examples:
            >>> ds.labels_to_category_ids(prediction["labels"])  # doctest: +SKIP
        """
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.numel() and (labels.min() < 1 or labels.max() > len(self.category_ids)):
            raise ValueError(f"labels must be in 1..{len(self.category_ids)}, got {labels.tolist()}")
        table = torch.tensor((0, *self.category_ids), dtype=torch.int64)
        return table[labels]

    def annotation_boxes(self, *, max_images: int | None = None) -> list[tuple[tuple[int, int], np.ndarray]]:
        """The JSON boxes of the kept annotations, per image, without reading images or masks.

        Boxes are the annotations' ``bbox`` as XYXY, clipped to the image; annotations without a usable
        ``bbox`` are skipped. Used by :func:`maskrcnn_custom.anchors.fit_anchors` for speed.

        Args:
            max_images: Only the first ``max_images`` images; all if None.

        Returns:
            ``[((height, width), (N, 4) float64 boxes), ...]``, one entry per image.

        Examples:
            >>> sizes_and_boxes = ds.annotation_boxes(max_images=10)  # doctest: +SKIP
        """
        out = []
        for info in self.images[: max_images if max_images is not None else len(self.images)]:
            h, w = info["height"], info["width"]
            rows = [ann["bbox"] for ann in self._anns[info["id"]] if ann.get("bbox") is not None]
            b = np.asarray(rows, np.float64).reshape(-1, 4)
            b[:, 2:] += b[:, :2]
            b[:, 0::2] = b[:, 0::2].clip(0, w)
            b[:, 1::2] = b[:, 1::2].clip(0, h)
            out.append(((h, w), b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]))
        return out

    # -- items ----------------------------------------------------------------------------------------

    def _check_bbox(self, ann: Mapping[str, Any], *, image_size: tuple[int, int]) -> bool:
        """Warn about a degenerate or out-of-image JSON bbox; False if the annotation is unusable."""
        bbox = ann.get("bbox")
        if bbox is None:
            return True
        h, w = image_size
        x, y, bw, bh = (float(v) for v in bbox)
        where = f"annotation id {ann['id']} (image id {ann['image_id']}) in {self.annotation_file}"
        if bw <= 0 or bh <= 0:
            warnings.warn(
                f"{where} has a degenerate bbox {list(bbox)} (width or height <= 0); using the tight box of its mask "
                "instead (dropped if the mask is empty)",
                UserWarning,
                stacklevel=3,
            )
        elif x < 0 or y < 0 or x + bw > w or y + bh > h:
            if x + bw <= 0 or y + bh <= 0 or x >= w or y >= h:
                warnings.warn(
                    f"{where} has a bbox {list(bbox)} entirely outside its {w}x{h} image; dropped",
                    UserWarning,
                    stacklevel=3,
                )
                return False
            warnings.warn(
                f"{where} has a bbox {list(bbox)} reaching outside its {w}x{h} image; clipped to the image "
                "(the target uses the tight box of the mask)",
                UserWarning,
                stacklevel=3,
            )
        return True

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} images")
        info = self.images[index]
        image = self.read_image(info)
        target = self._target(info)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def read_image(self, info: Mapping[str, Any]) -> torch.Tensor:
        """Read one image entry as float32 RGB ``(3, H, W)`` in ``[0, 1]``, checking its size against the JSON.

        Decoding follows :func:`~maskrcnn_custom.data.read_image` (16-bit images divided by 65535, float
        images kept in ``[0, 1]``, alpha dropped), the same reader :func:`~maskrcnn_custom.inference.predict`
        uses for files.
        """
        path = self.images_dir / info["file_name"]
        if not path.is_file():
            raise FileNotFoundError(
                f"image file {path} (image id {info['id']} of {self.annotation_file}) does not exist"
            )
        try:
            image = read_image(path)
        except ValueError as exc:
            raise ValueError(f"{exc} (image id {info['id']} of {self.annotation_file})") from exc
        if tuple(image.shape[1:]) != (info["height"], info["width"]):
            raise ValueError(
                f"image file {path} is {image.shape[2]}x{image.shape[1]} but {self.annotation_file} says "
                f"{info['width']}x{info['height']} for image id {info['id']}"
            )
        return image

    def _decode(self, ann: Mapping[str, Any], h: int, w: int) -> np.ndarray:
        api = self._mask_api
        seg = ann["segmentation"]
        if isinstance(seg, list):
            rle = api.merge(api.frPyObjects(seg, h, w))
        else:
            if list(seg["size"]) != [h, w]:
                raise ValueError(
                    f"annotation id {ann['id']} in {self.annotation_file}: RLE size {seg['size']} does not match "
                    f"its image's height, width [{h}, {w}]"
                )
            if isinstance(seg["counts"], list):
                rle = api.frPyObjects(seg, h, w)
            else:
                rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
        with warnings.catch_warnings():
            # pycocotools' Cython code triggers a NumPy 2 copy-keyword DeprecationWarning on every decode.
            warnings.filterwarnings(
                "ignore", message=r"__array__ implementation", category=DeprecationWarning
            )
            return api.decode(rle)

    def _target(self, info: Mapping[str, Any]) -> dict[str, Any]:
        h, w = info["height"], info["width"]
        masks, labels, crowd = [], [], []
        for ann in self._anns[info["id"]]:
            m = self._decode(ann, h, w)
            if not m.any():
                if ann["id"] not in self._warned:
                    self._warned.add(ann["id"])
                    warnings.warn(
                        f"annotation id {ann['id']} (image id {info['id']}) in {self.annotation_file} has an empty "
                        "mask inside its image; dropped",
                        UserWarning,
                        stacklevel=3,
                    )
                continue
            masks.append(m)
            labels.append(self._label_of[ann["category_id"]])
            crowd.append(int(ann.get("iscrowd", 0)))
        mask_arr = np.stack(masks) if masks else np.zeros((0, h, w), np.uint8)
        mask_t = torch.from_numpy(mask_arr.astype(np.uint8, copy=False))
        return {
            "boxes": masks_to_tight_boxes(mask_t),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "masks": mask_t,
            "image_id": int(info["id"]),
            "area": mask_t.sum(dim=(1, 2), dtype=torch.float32) if masks else torch.zeros(0),
            "iscrowd": torch.tensor(crowd, dtype=torch.int64),
        }
