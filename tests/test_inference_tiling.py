"""Tiled inference: windows, the mask-aware merge across tile borders, memory guards, CLI.

The oracle model "detects" exactly the objects visible in each tile: every object is drawn as one bit of a
24-bit code spread over the three uint8 channels, so the oracle can read which objects cover which pixels
of a tile (crossing objects included) and return their visible masks and tight boxes.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.rods import rods_image
from maskrcnn_custom import maskrcnn_resnet18_fpn, predict, predict_tiled, save_pretrained
from maskrcnn_custom.cli import main
from maskrcnn_custom.inference import tile_windows

H, W, TILE = 300, 500, 128

# (x0, y0, x1, y1, width, label): rods as segments of a given thickness.
OBJECTS = [
    (60, 42, 300, 42, 5, 1),  # horizontal, crosses three vertical tile borders
    (252, 20, 252, 280, 5, 1),  # vertical, crosses two horizontal borders, and crosses rod 0
    (20, 150, 220, 290, 5, 2),  # diagonal
    (70, 105, 150, 120, 5, 1),  # through the corner where four tiles overlap
    (340, 20, 470, 110, 4, 1),  # an X of two rods of the same label...
    (340, 110, 470, 20, 4, 1),  # ... crossing each other and a tile border
    (104, 248, 116, 248, 8, 2),  # small, seen whole by two tiles
]


def _segment_mask(x0, y0, x1, y1, width):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    d = np.array([x1 - x0, y1 - y0], float)
    t = np.clip(((xx - x0) * d[0] + (yy - y0) * d[1]) / max(d @ d, 1e-9), 0, 1)
    dist = np.hypot(xx - (x0 + t * d[0]), yy - (y0 + t * d[1]))
    return dist <= width / 2


@pytest.fixture(scope="module")
def scene():
    masks = np.stack([_segment_mask(*o[:5]) for o in OBJECTS])
    code = np.zeros((H, W), np.int64)
    for k, m in enumerate(masks):
        code |= m.astype(np.int64) << k
    image = np.stack([(code >> (8 * c)) & 255 for c in range(3)], axis=-1).astype(np.uint8)  # HxWx3
    labels = np.array([o[5] for o in OBJECTS])
    return image, masks, labels


def _tile_score(visible, total):
    return 0.55 + 0.4 * visible / total


def oracle_model(masks, labels, calls):
    """A real MaskRCNN object whose forward returns the objects visible in each input tile."""
    model = maskrcnn_resnet18_fpn(weights_backbone=None, min_size=TILE, max_size=TILE)
    areas = masks.reshape(len(masks), -1).sum(axis=1)

    def forward(images, targets=None):
        outs = []
        for img in images:
            code = (img * 255).round().to(torch.int64)
            bits = code[0] | (code[1] << 8) | (code[2] << 16)
            boxes, labs, scores, probs = [], [], [], []
            for k in range(len(labels)):
                m = ((bits >> k) & 1).bool()
                score = _tile_score(int(m.sum()), int(areas[k]))
                if not m.any() or score <= model.roi_heads.score_thresh:
                    continue
                ys, xs = torch.nonzero(m, as_tuple=True)
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                labs.append(int(labels[k]))
                scores.append(score)
                probs.append(m.float()[None])
            calls.append(len(boxes))
            h, w = img.shape[-2:]
            outs.append(
                {
                    "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                    "labels": torch.tensor(labs, dtype=torch.int64),
                    "scores": torch.tensor(scores, dtype=torch.float32),
                    "masks": torch.stack(probs) if probs else torch.zeros(0, 1, h, w),
                }
            )
        return outs

    model.forward = forward
    return model


def _mask_iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_windows_cover_the_image_with_the_last_tile_flush():
    wins = tile_windows((H, W), tile_size=TILE, tile_overlap=0.25)
    ys = sorted({w[0] for w in wins})
    xs = sorted({w[1] for w in wins})
    assert ys == [0, 96, 172] and xs == [0, 96, 192, 288, 372]  # stride 128 - 32 = 96, last flush
    assert len(wins) == 15 and all(y1 - y0 == x1 - x0 == TILE for y0, x0, y1, x1 in wins)
    covered = np.zeros((H, W), int)
    for y0, x0, y1, x1 in wins:
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1 and covered[100:120, 100:120].min() == 4  # a four-tile corner
    # Images smaller than a tile give one window of the image's own size.
    assert tile_windows((40, 300), tile_size=64, tile_overlap=0.5) == [
        (0, 0, 40, 64), (0, 32, 40, 96), (0, 64, 40, 128), (0, 96, 40, 160), (0, 128, 40, 192),
        (0, 160, 40, 224), (0, 192, 40, 256), (0, 224, 40, 288), (0, 236, 40, 300),
    ]  # fmt: skip
    assert tile_windows((64, 64), tile_size=64, tile_overlap=0.0) == [(0, 0, 64, 64)]


def test_objects_crossing_tile_borders_merge_into_one_detection_each(scene):
    image, masks, labels = scene
    calls = []
    model = oracle_model(masks, labels, calls)
    [p] = predict_tiled(model, image, tile_size=TILE, tile_overlap=0.25, batch_size=4)
    wins = tile_windows((H, W), tile_size=TILE, tile_overlap=0.25)
    assert len(calls) == len(wins) == 15
    # Tiles with nothing in them returned nothing; every other tile returned its visible objects.
    seen = [[k for k in range(len(masks)) if masks[k, y0:y1, x0:x1].any()] for y0, x0, y1, x1 in wins]
    assert calls == [len(s) for s in seen] and sum(c == 0 for c in calls) >= 2
    assert sum(calls) > 2 * len(OBJECTS)  # many objects were seen by several tiles
    assert len(p) == len(OBJECTS) and p.image_size == (H, W) and p.masks.shape == (len(OBJECTS), H, W)
    got = p.masks.numpy()
    matched = set()
    for k, gt in enumerate(masks):
        ious = [_mask_iou(gt, m) for m in got]
        j = int(np.argmax(ious))
        assert ious[j] > 0.99, (k, ious[j])
        assert sorted(ious)[-2] < 0.5  # no second detection of the same object
        matched.add(j)
        assert int(p.labels[j]) == labels[k]
        ys, xs = np.nonzero(gt)
        np.testing.assert_array_equal(p.boxes[j].numpy(), [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        # The merged score is the best tile's score (the tile that sees most of the object).
        best = max(
            _tile_score(masks[k, y0:y1, x0:x1].sum(), gt.sum())
            for y0, x0, y1, x1 in wins
            if masks[k, y0:y1, x0:x1].any()
        )
        assert float(p.scores[j]) == pytest.approx(best, abs=1e-6)
    assert len(matched) == len(OBJECTS)
    assert (p.scores[:-1] >= p.scores[1:]).all()
    # The same through predict(tile_size=...), with one tile per forward pass.
    [q] = predict(model, image, tile_size=TILE, tile_overlap=0.25)
    assert torch.equal(q.masks, p.masks) and torch.equal(q.boxes, p.boxes) and torch.equal(q.scores, p.scores)


def test_default_tile_size_is_the_models_input_size_and_empty_images_give_nothing(scene):
    image, masks, labels = scene
    calls = []
    model = oracle_model(masks, labels, calls)
    [p] = predict_tiled(model, image)  # tile_size = min_size = 128
    assert len(calls) == 15 and len(p) == len(OBJECTS)
    calls.clear()
    [empty] = predict_tiled(model, np.zeros((H, W, 3), np.uint8))
    assert len(calls) == 15 and sum(calls) == 0
    assert len(empty) == 0 and empty.masks.shape == (0, H, W) and empty.boxes.shape == (0, 4)


def test_without_overlap_cut_objects_stay_split(scene):
    """Merging needs a region both tiles see: with tile_overlap=0 the halves are separate detections."""
    image, masks, labels = scene
    model = oracle_model(masks, labels, [])
    [p] = predict_tiled(model, image, tile_size=TILE, tile_overlap=0.0)
    assert len(p) > len(OBJECTS)
    # Still every object pixel is covered, and no detection crosses a seam.
    assert np.array_equal(p.masks.numpy().any(axis=0), masks.any(axis=0))


def test_progress_bar_counts_tiles(scene, capsys):
    image, masks, labels = scene
    predict_tiled(oracle_model(masks, labels, []), [image, image], progress=True)
    assert "30/30" in capsys.readouterr().err


def tiny_model():
    """A random-weight resnet18 Mask R-CNN at 64 px input, so 64 px tiles run at the model's own scale."""
    torch.manual_seed(0)
    model = maskrcnn_resnet18_fpn(
        weights_backbone=None, mask_hidden_dim=32, mask_head_layers=(32, 32), min_size=64, max_size=64,
        rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=100, box_detections_per_img=10,
    )  # fmt: skip
    return model.eval()


def test_real_tiny_model_end_to_end():
    model = tiny_model()
    img = rods_image(200, seed=3, n=6)[:, :150, :]
    [p] = predict_tiled(model, img, tile_size=64, batch_size=3, score_threshold=0.3)
    assert (
        len(p) > 0
        and p.image_size == (150, 200)
        and p.masks.shape == (len(p), 150, 200)
        and p.masks.dtype == torch.bool
    )
    assert p.boxes.shape == (len(p), 4) and p.labels.dtype == torch.int64
    b = p.boxes
    assert bool(((b[:, 0] >= 0) & (b[:, 1] >= 0) & (b[:, 2] <= 200) & (b[:, 3] <= 150)).all())
    assert (p.scores > 0.3).all() and (p.scores[:-1] >= p.scores[1:]).all()
    [q] = predict(model, img, tile_size=64, batch_size=3, score_threshold=0.3)
    assert torch.equal(p.masks, q.masks) and torch.allclose(p.scores, q.scores)


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"tile_size": 16}, ValueError, "tile_size must be at least 32"),
        ({"tile_size": 64.0}, TypeError, "tile_size"),
        ({"tile_overlap": 1.0}, ValueError, "tile_overlap is a fraction"),
        ({"tile_overlap": 64}, ValueError, "tile_overlap"),
        ({"tile_overlap": -0.1}, ValueError, "tile_overlap"),
        ({"merge_iou": 0.0}, ValueError, "merge_iou"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"max_image_pixels": 100_000}, ValueError, "max_image_pixels"),
    ],
)
def test_bad_arguments_raise_before_any_tile_runs(scene, kwargs, exc, words):
    image, masks, labels = scene
    calls = []
    model = oracle_model(masks, labels, calls)
    with pytest.raises(exc, match=words):
        predict_tiled(model, image, **kwargs)
    assert calls == []
    if "tile_size" in kwargs or "tile_overlap" in kwargs:
        with pytest.raises(exc, match=words):
            predict(model, image, **{"tile_size": 128, **kwargs})
        assert calls == []


def test_result_above_the_mask_memory_cap_raises_with_the_fix(scene):
    image, masks, labels = scene
    with pytest.raises(ValueError, match="max_mask_bytes"):
        predict_tiled(oracle_model(masks, labels, []), image, max_mask_bytes=H * W * (len(OBJECTS) - 1))


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    return save_pretrained(
        tiny_model(), tmp_path_factory.mktemp("weights") / "tiny", class_names=("bg", "rod")
    )


def test_cli_predict_tiles(weights_dir, tmp_path, capsys):
    arr = (rods_image(200, seed=3, n=6)[0, :150].numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr, mode="L").save(tmp_path / "big.png")
    out = tmp_path / "out"
    args = [
        "predict",
        str(tmp_path / "big.png"),
        "--weights",
        str(weights_dir),
        "--out",
        str(out),
        "--no-progress",
    ]
    code = main(
        [
            *args,
            "--tile-size",
            "64",
            "--tile-overlap",
            "0.25",
            "--score-threshold",
            "0.3",
            "--formats",
            "coco,labels",
        ]
    )
    assert code == 0
    results = json.loads((out / "predictions.json").read_text())
    [expected] = predict_tiled(tiny_model(), str(tmp_path / "big.png"), tile_size=64, score_threshold=0.3)
    assert len(results) == len(expected)
    np.testing.assert_allclose([r["score"] for r in results], expected.scores.numpy(), atol=1e-5)
    assert np.asarray(Image.open(out / "labels" / "big.png")).shape == (150, 200)
    capsys.readouterr()
    assert main([*args, "--tile-size", "16"]) == 2
    assert "--tile-size/--tile-overlap: tile_size must be at least 32" in capsys.readouterr().err
