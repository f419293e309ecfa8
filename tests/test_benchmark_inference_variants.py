"""benchmarks/inference_variants.py: maskness rescoring and flip-averaged masks, checked by hand."""

import pytest
import torch

from helpers.benchmark_run import load_benchmark_module, run_benchmark
from helpers.models import hub_model
from helpers.rods import rods_image
from maskrcnn_custom import save_pretrained

pytest.importorskip("pycocotools")


def _module():
    return load_benchmark_module("inference_variants")


def test_maskness_and_mirrored_boxes():
    m = _module()
    probs = torch.zeros(3, 1, 4, 4)
    probs[0, 0, :2, :2] = 0.8
    probs[0, 0, 2, 2] = 0.4  # below 0.5: not foreground
    probs[1] = 1.0
    torch.testing.assert_close(m.maskness(probs), torch.tensor([0.8, 1.0, 0.0]))
    boxes = torch.tensor([[10.0, 5, 30, 20]])
    torch.testing.assert_close(m.mirror_boxes(boxes, 64), torch.tensor([[34.0, 5, 54, 20]]))


def test_variants_keep_boxes_and_change_only_what_they_say():
    m = _module()
    model = hub_model(num_classes=2, mask_resolution=56)
    image = rods_image(seed=0)[:, :64, :64]
    with torch.no_grad():
        own = model([image])[0]
        base = m.Variant(model)([image])[0]
        rescored = m.Variant(model, rescore=1.0)([image])[0]
        flipped = m.Variant(model, flip=True)([image])[0]
    assert len(own["boxes"]) > 0
    for key in ("boxes", "scores", "labels", "masks"):
        torch.testing.assert_close(base[key], own[key], rtol=0, atol=0)
    torch.testing.assert_close(rescored["boxes"], own["boxes"], rtol=0, atol=0)
    assert bool((rescored["scores"] <= own["scores"] + 1e-6).all())  # maskness <= 1
    torch.testing.assert_close(flipped["scores"], own["scores"], rtol=0, atol=0)
    assert not torch.equal(flipped["masks"], own["masks"])


def test_cli_reports_each_variant(tmp_path):
    folder = save_pretrained(hub_model(num_classes=2, mask_resolution=56), tmp_path / "m")
    out = tmp_path / "r.json"
    args = ["--model", str(folder), "--image-size", "64", "--val-images", "2", "--threads", "1"]
    report = run_benchmark("inference_variants.py", *args, "--variants", "base,flip", "--out", str(out))
    assert list(report["variants"]) == ["base", "flip"] and out.exists()
    assert all(0.0 <= r[k] <= 1.0 for r in report["variants"].values() for k in ("segm_AP", "bbox_AP"))
    with pytest.raises(AssertionError, match="--variants must name"):
        run_benchmark("inference_variants.py", *args, "--variants", "nope")
