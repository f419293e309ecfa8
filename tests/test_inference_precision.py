"""bfloat16 inference: the network in bfloat16, geometry in float32, detections close to float32."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import detecting_model, save_detecting_model
from helpers.precision import match
from helpers.rods import rods_image
from maskrcnn_custom import predict
from maskrcnn_custom.cli import main
from maskrcnn_custom.inference.precision import reduced_precision

# bfloat16 keeps 8 mantissa bits, so scores move by ~1e-2 and a detection within a few hundredths of the
# threshold may cross it. Tolerances against float32, on the test model:
SCORE_MARGIN = 0.05  # float32 detections this far above the threshold must be found in bfloat16
MIN_BOX_IOU = 0.95  # matched boxes
SCORE_ATOL = 0.02  # matched scores
MIN_MEAN_MASK_IOU = 0.85  # over all matched detections (the random mask head's logits sit near 0)
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def model():
    return detecting_model()


@pytest.fixture(scope="module")
def images():
    return [rods_image(seed=s) for s in range(4)]


@pytest.fixture(scope="module")
def runs(model, images):
    fp32 = predict(model, images, score_threshold=THRESHOLD, batch_size=2)
    bf16 = predict(model, images, score_threshold=THRESHOLD, batch_size=2, precision="bfloat16")
    return fp32, bf16


def test_bfloat16_detections_match_float32_within_tolerance(runs):
    fp32, bf16 = runs
    assert sum(len(p) for p in fp32) >= 10  # a comparison of real detections
    mask_ious = []
    for ref, cand in zip(fp32, bf16, strict=True):
        assert abs(len(ref) - len(cand)) <= 1
        matches = {i: m for i, *m in match(ref, cand)}
        for i in range(len(ref)):
            if float(ref.scores[i]) > THRESHOLD + SCORE_MARGIN:
                assert i in matches, f"confident detection {i} lost in bfloat16"
                _, box_iou, score_diff, _ = matches[i]
                assert box_iou >= MIN_BOX_IOU and score_diff <= SCORE_ATOL
        mask_ious += [m[3] for m in matches.values()]
    assert np.mean(mask_ious) >= MIN_MEAN_MASK_IOU


def test_bfloat16_outputs_are_float32_and_the_network_really_ran_in_bfloat16(model, images, runs):
    _, bf16 = runs
    assert all(p.boxes.dtype == p.scores.dtype == torch.float32 for p in bf16)
    assert not all(torch.equal(a.scores, b.scores) for a, b in zip(runs[0], bf16, strict=True))
    seen = {}
    hooks = [
        part.register_forward_hook(lambda m, i, o, key=key: seen.setdefault(key, o))
        for key, part in {
            "fpn": model.backbone.body,
            "box_head": model.roi_heads.box_head,
            "mask_logits": model.roi_heads.mask_predictor,
        }.items()
    ]
    try:
        with reduced_precision(model, "bfloat16", "cpu"), torch.inference_mode():
            out = model(images[:1])
    finally:
        for h in hooks:
            h.remove()
    assert seen["box_head"].dtype == torch.float32  # cast back as it leaves the head
    assert next(iter(seen["fpn"].values())).dtype == torch.bfloat16  # the convolutions ran in bfloat16
    assert out[0]["boxes"].dtype == out[0]["masks"].dtype == torch.float32
    assert "forward" not in vars(model.backbone) and "forward" not in vars(model.roi_heads.mask_head)


def test_bad_precision_is_rejected_before_work(model):
    for bad in ("fp16", "float16", torch.bfloat16, None):
        with pytest.raises(ValueError, match="precision"):
            predict(model, rods_image(), precision=bad)


def test_cli_predict_precision(tmp_path, capsys):
    weights = save_detecting_model(tmp_path / "w")
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray((rods_image()[0].numpy() * 255).astype(np.uint8)).save(folder / "a.png")
    args = ["predict", str(folder), "--weights", str(weights), "--no-progress", "--formats", "coco"]
    assert main([*args, "--out", str(tmp_path / "bf16"), "--precision", "bfloat16"]) == 0
    results = json.loads((tmp_path / "bf16" / "predictions.json").read_text())
    [ref] = predict(detecting_model(), folder / "a.png")
    assert abs(len(results) - len(ref)) <= 1 and len(results) > 0
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "x"), "--precision", "int4"])
    assert "--precision" in capsys.readouterr().err
