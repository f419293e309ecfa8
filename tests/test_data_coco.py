import json
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from maskrcnn_custom.data import (
    CocoDataset,
    SyntheticConfig,
    SyntheticElongatedDataset,
    export_coco,
    import_pycocotools_mask,
    masks_to_tight_boxes,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    ds = SyntheticElongatedDataset(6, image_size=64, seed=9, config=SyntheticConfig(labels="kind"))
    export_coco(ds, root)
    return ds, root


def test_round_trip_gives_the_same_targets(exported):
    ds, root = exported
    loaded = CocoDataset.from_dir(root)
    assert len(loaded) == 6
    assert loaded.category_names == ds.category_names and loaded.num_classes == ds.num_classes
    for i in range(len(ds)):
        image, t = ds[i]
        image2, t2 = loaded[i]
        assert image2.dtype == torch.float32 and image2.shape == image.shape
        assert (image2 - image).abs().max() <= 0.5 / 255 + 1e-6
        for key in ("boxes", "labels", "masks", "area", "iscrowd"):
            assert t2[key].dtype == t[key].dtype
            assert torch.equal(t2[key], t[key]), key
        assert t2["image_id"] == t["image_id"] == i


def test_export_layout_and_json(exported):
    ds, root = exported
    assert sorted(p.name for p in (root / "images").iterdir()) == [f"{i:06d}.png" for i in range(6)]
    coco = json.loads((root / "annotations.json").read_text())
    ann = coco["annotations"][0]
    _, t = ds[ann["image_id"]]
    x1, y1, x2, y2 = t["boxes"][0].tolist()
    assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1]
    assert isinstance(ann["segmentation"]["counts"], str)
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3]
    with pytest.raises(FileExistsError, match="overwrite"):
        export_coco(ds, root)


def _write(root, data, images=None):
    (root / "images").mkdir(exist_ok=True)
    for name, arr in (images or {}).items():
        Image.fromarray(arr.transpose(1, 2, 0)).save(root / "images" / name)
    path = root / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def _img(h=20, w=30):
    return np.full((3, h, w), 128, np.uint8)


def test_polygons_uncompressed_rle_sparse_category_ids_and_empty_images(tmp_path):
    # Uncompressed RLE (column-major) of a 20x30 mask with rows 5..9 of column 2 set.
    m = np.zeros((20, 30), np.uint8, order="F")
    m[5:10, 2] = 1
    flat = m.flatten(order="F")
    runs, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    counts = runs
    data = {
        "images": [
            {"id": 10, "file_name": "a.png", "width": 30, "height": 20},
            {"id": 11, "file_name": "b.png", "width": 30, "height": 20},
        ],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "bbox": [4, 3, 10, 5], "iscrowd": 0,
             "segmentation": [[4, 3, 14, 3, 14, 8, 4, 8]]},
            {"id": 2, "image_id": 10, "category_id": 42, "bbox": [2, 5, 1, 5], "iscrowd": 0,
             "segmentation": {"size": [20, 30], "counts": counts}},
            {"id": 3, "image_id": 10, "category_id": 7, "bbox": [20, 10, 5, 5], "iscrowd": 1,
             "segmentation": [[20, 10, 25, 10, 25, 15, 20, 15]]},
        ],
        "categories": [{"id": 42, "name": "fibre"}, {"id": 7, "name": "rod"}],
    }  # fmt: skip
    path = _write(tmp_path, data, {"a.png": _img(), "b.png": _img()})
    ds = CocoDataset(tmp_path / "images", path)
    assert ds.category_ids == (7, 42) and ds.category_names == ("rod", "fibre")
    _, t = ds[0]
    assert t["labels"].tolist() == [1, 2] and t["image_id"] == 10
    assert t["iscrowd"].tolist() == [0, 0]  # the crowd region is left out by default
    assert torch.equal(t["boxes"], masks_to_tight_boxes(t["masks"]))
    assert torch.equal(t["masks"][1], torch.from_numpy(np.ascontiguousarray(m)))
    assert t["boxes"][1].tolist() == [2.0, 5.0, 3.0, 10.0]
    # The polygon covers columns 4..14 and rows 3..8 (pycocotools rasterisation).
    x1, y1, x2, y2 = t["boxes"][0].tolist()
    assert (x1, y1) == (4.0, 3.0) and 13 <= x2 <= 15 and 8 <= y2 <= 9
    assert ds.labels_to_category_ids(t["labels"]).tolist() == [7, 42]
    assert ds.category_id_to_label(42) == 2
    with pytest.raises(ValueError, match=r"1\.\.2"):
        ds.labels_to_category_ids([3])
    # An image without annotations keeps empty, well-shaped targets.
    _, t = ds[1]
    assert t["boxes"].shape == (0, 4) and t["masks"].shape == (0, 20, 30) and t["labels"].shape == (0,)
    assert t["boxes"].dtype == torch.float32 and t["masks"].dtype == torch.uint8
    # keep_crowd keeps it, flagged.
    _, t = CocoDataset(tmp_path / "images", path, keep_crowd=True)[0]
    assert t["iscrowd"].tolist() == [0, 0, 1]


def _one_image(anns, cats=None):
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],
        "annotations": anns,
        "categories": cats or [{"id": 1, "name": "rod"}],
    }


def _ann(aid=5, bbox=(4, 3, 10, 5), poly=(4, 3, 14, 3, 14, 8, 4, 8), **kw):
    return {"id": aid, "image_id": 1, "category_id": 1, "bbox": list(bbox), "iscrowd": 0,
            "segmentation": [list(poly)], **kw}  # fmt: skip


def test_degenerate_and_outside_boxes_warn_with_the_annotation_id(tmp_path):
    data = _one_image(
        [
            _ann(101, bbox=(4, 3, 0, 5)),  # zero width: repaired from the mask
            _ann(102, bbox=(25, 3, 10, 5), poly=(25, 3, 35, 3, 35, 8, 25, 8)),  # reaches outside: clipped
            _ann(103, bbox=(40, 30, 5, 5), poly=(40, 30, 45, 30, 45, 35, 40, 35)),  # outside: dropped
            _ann(104, bbox=(4, 3, 10, 5), poly=(4, 3, 4, 3, 4, 3)),  # empty mask: dropped at read time
        ]
    )
    path = _write(tmp_path, data, {"a.png": _img()})
    with pytest.warns(UserWarning) as record:
        ds = CocoDataset(tmp_path / "images", path)
    messages = [str(r.message) for r in record]
    assert any("annotation id 101" in m and "degenerate" in m for m in messages)
    assert any("annotation id 102" in m and "clipped" in m for m in messages)
    assert any("annotation id 103" in m and "outside" in m for m in messages)
    with pytest.warns(UserWarning, match="annotation id 104.*empty mask"):
        _, t = ds[0]
    assert len(t["labels"]) == 2
    assert t["boxes"][1].tolist()[2] == 30.0  # clipped to the image by the mask
    assert torch.equal(t["boxes"], masks_to_tight_boxes(t["masks"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds[0]  # warned once per annotation


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.pop("images"), "'images'"),
        (lambda d: d["annotations"].append(_ann(5)), "annotation id 5 appears twice"),
        (lambda d: d["annotations"][0].update(image_id=99), "annotation id 5 refers to image_id 99"),
        (lambda d: d["annotations"][0].update(category_id=3), "annotation id 5 refers to category_id 3"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"annotation id 5: 'bbox'"),
        (lambda d: d["annotations"][0].pop("segmentation"), "annotation id 5 has no 'segmentation'"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3]]), "annotation id 5: each polygon"),
        (lambda d: d["annotations"][0].update(segmentation={"size": [20, 30], "counts": [3]}), "summing"),
        (lambda d: d["images"][0].pop("width"), "image id 1 needs a positive int 'width'"),
        (lambda d: d["categories"][0].pop("name"), r"categories\[0\]"),
    ],
)
def test_malformed_coco_json_names_the_entry(tmp_path, mutate, match):
    data = _one_image([_ann(5)])
    mutate(data)
    path = _write(tmp_path, data, {"a.png": _img()})
    with pytest.raises(ValueError, match=match) as info:
        CocoDataset(tmp_path / "images", path)
    assert "annotations.json" in str(info.value)


def test_invalid_json_and_missing_files(tmp_path):
    (tmp_path / "images").mkdir()
    bad = tmp_path / "annotations.json"
    bad.write_text('{"images": [')
    with pytest.raises(ValueError, match=r"annotations.json is not valid JSON"):
        CocoDataset(tmp_path / "images", bad)
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        CocoDataset(tmp_path / "images", tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match="images_dir"):
        CocoDataset(tmp_path / "missing", bad)


def test_corrupt_missing_or_wrong_size_image_names_the_file(tmp_path):
    data = _one_image([_ann(5)])
    data["images"].append({"id": 2, "file_name": "gone.png", "width": 30, "height": 20})
    data["images"].append({"id": 3, "file_name": "small.png", "width": 30, "height": 20})
    path = _write(tmp_path, data, {"small.png": _img(10, 10)})
    (tmp_path / "images" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    ds = CocoDataset(tmp_path / "images", path)
    with pytest.raises(ValueError, match=r"a\.png.*corrupt"):
        ds[0]
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        ds[1]
    with pytest.raises(ValueError, match=r"small\.png is 10x10"):
        ds[2]


def test_missing_pycocotools_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    monkeypatch.setitem(sys.modules, "pycocotools.mask", None)
    with pytest.raises(ImportError, match=r'pip install "maskrcnn-custom\[coco\]"'):
        import_pycocotools_mask()
    with pytest.raises(ImportError, match=r"maskrcnn-custom\[coco\]"):
        CocoDataset(tmp_path, tmp_path / "annotations.json")
    with pytest.raises(ImportError, match=r"maskrcnn-custom\[coco\]"):
        export_coco(SyntheticElongatedDataset(1, image_size=32), tmp_path / "out")
