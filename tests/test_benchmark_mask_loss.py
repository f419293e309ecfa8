"""benchmarks/time_to_accuracy_mask_loss.py: its mask losses against torchvision's, and a tiny run."""

import pytest
import torch
import torchvision.models.detection.roi_heads as roi_heads

from helpers.benchmark_run import load_benchmark_module, tiny_library_run

pytest.importorskip("pycocotools")


def _module():
    return load_benchmark_module("time_to_accuracy_mask_loss")


def _inputs():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 28, 28, generator=g)
    masks = torch.zeros(2, 64, 64)
    masks[0, 30:33, 4:60] = 1
    masks[1, 10:50, 20:24] = 1
    proposals = [torch.tensor([[2.0, 28.0, 62.0, 36.0], [18.0, 8.0, 26.0, 52.0], [0.0, 0.0, 64.0, 64.0]])]
    return logits, proposals, [masks], [torch.tensor([1, 1])], [torch.tensor([0, 1, 0])]


def test_weighted_cross_entropy_is_twice_torchvisions_and_dice_adds_a_positive_term():
    module = _module()
    args = _inputs()
    reference = roi_heads.maskrcnn_loss(*args)
    assert float(reference) > 0
    torch.testing.assert_close(module.make_mask_loss("bce_x2")(*args), 2 * reference)
    dice = module.make_mask_loss("bce_dice")(*args) - reference
    assert 0 < float(dice) < 1
    with pytest.raises(ValueError, match="--mask-loss must be one of"):
        module.make_mask_loss("focal")


def test_tiny_run_records_the_mask_loss():
    run = tiny_library_run("time_to_accuracy_mask_loss.py", "--mask-loss", "bce_dice")
    assert run["recipe"]["mask_loss"] == "bce_dice"
