"""The precision benchmark's detection matching: a path compared with itself matches fully, even empty masks."""

import torch

from helpers.benchmark_run import load_benchmark_module
from maskrcnn_custom import Prediction


def _module():
    return load_benchmark_module("inference_precision")


def _prediction(masks: torch.Tensor, labels: list[int]) -> Prediction:
    n = len(labels)
    return Prediction(boxes=torch.zeros(n, 4), labels=torch.tensor(labels), scores=torch.ones(n), masks=masks,
                      image_size=tuple(masks.shape[-2:]))  # fmt: skip


def test_matched_share_counts_empty_masks_and_mask_iou():
    matched_share = _module().matched_share
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, :4, :4] = True
    masks[1, 4:, 4:] = True  # masks[2] is empty, as a weak model's masks often are
    ref = _prediction(masks, [1, 1, 1])
    assert matched_share([ref], [ref]) == 1.0
    shifted = masks.clone()
    shifted[0] = False
    shifted[0, 1:5, :4] = True  # IoU 12 / 20 = 0.6 < 0.9
    assert matched_share([ref], [_prediction(shifted, [1, 1, 1])]) == 2 / 3
    assert matched_share([ref], [_prediction(masks, [2, 2, 2])]) == 0.0  # another label never matches
    assert matched_share([ref], [_prediction(masks[:0], [])]) == 0.0
