"""The default builder is the seed network, parameter for parameter, and gives the same outputs."""

import pytest
import torch
from torchvision.ops.misc import FrozenBatchNorm2d

from helpers.seed_reference import seed_maskrcnn_resnet101_fpn
from maskrcnn_custom import maskrcnn_resnet101_fpn


@pytest.fixture(scope="module")
def seed_model():
    """The seed network with sane normalisation statistics.

    A randomly initialised ResNet-101 with FrozenBatchNorm2d's identity statistics has activations of ~1e4 and
    proposes no boxes, which would make an output comparison vacuous. So the BatchNorm statistics are estimated
    on a few random images with the library's trainable-BN model, and that state dict is loaded into the seed
    (FrozenBatchNorm2d drops ``num_batches_tracked``).
    """
    torch.manual_seed(1)
    calibrator = maskrcnn_resnet101_fpn(weights_backbone=None)
    for m in calibrator.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average
    calibrator.backbone.train()
    with torch.no_grad():
        images = list(torch.rand(4, 3, 256, 256, generator=torch.Generator().manual_seed(10)))
        calibrator.backbone(calibrator.transform(images)[0].tensors)
    seed = seed_maskrcnn_resnet101_fpn()
    seed.load_state_dict(calibrator.state_dict(), strict=True)
    # The comparison needs detections, not 100 of them: the 1500-channel mask head dominates CPU time.
    seed.roi_heads.detections_per_img = 20
    return seed.eval()


def _outputs_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_same_parameters_names_and_shapes(seed_model):
    ours = maskrcnn_resnet101_fpn(weights_backbone=None)
    seed_sd = seed_model.state_dict()
    our_sd = {k: v for k, v in ours.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert list(our_sd) == list(seed_sd)
    assert {k: v.shape for k, v in our_sd.items()} == {k: v.shape for k, v in seed_sd.items()}
    assert sum(v.numel() for v in our_sd.values()) == sum(v.numel() for v in seed_sd.values())
    head = ours.roi_heads
    assert (head.box_predictor.cls_score.in_features, head.box_predictor.cls_score.out_features) == (1024, 2)
    assert head.mask_predictor.conv5_mask.in_channels == 256
    assert head.mask_predictor.conv5_mask.out_channels == 1500
    assert head.mask_predictor.mask_fcn_logits.out_channels == 2
    gen = ours.rpn.anchor_generator
    assert gen.sizes == ((32,), (64,), (64,), (76,), (100,))
    assert all(r == (0.25, 0.33, 1.0, 2.0, 3.0) for r in gen.aspect_ratios)
    assert ours.rpn.fg_bg_sampler.batch_size_per_image == 512
    assert ours.transform.min_size == (256,) and ours.transform.max_size == 256
    assert ours.roi_heads.box_roi_pool.featmap_names == ["0"] and ours.roi_heads.box_roi_pool.output_size == (
        7,
        7,
    )
    assert ours.roi_heads.mask_roi_pool.output_size == (14, 14)
    assert ours.roi_heads.mask_roi_pool.sampling_ratio == 2


def test_frozen_bn_variant_is_bit_identical_to_seed(seed_model):
    ours = maskrcnn_resnet101_fpn(weights_backbone=None, backbone_norm="frozen_bn")
    assert any(isinstance(m, FrozenBatchNorm2d) for m in ours.modules())
    ours.load_state_dict(seed_model.state_dict(), strict=True)
    ours.roi_heads.detections_per_img = seed_model.roi_heads.detections_per_img
    ours.eval()
    image = torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = seed_model([image])[0]
        got = ours([image])[0]
    assert len(expected["boxes"]) > 0  # random heads still emit detections, so the comparison bites
    _outputs_equal(got, expected)


def test_default_trainable_bn_model_loads_seed_state_dict_strictly(seed_model):
    """The default from-scratch model uses trainable BatchNorm2d; the seed's FrozenBatchNorm2d state loads."""
    ours = maskrcnn_resnet101_fpn(weights_backbone=None)
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in ours.modules())
    ours.load_state_dict(seed_model.state_dict(), strict=True)
    ours.roi_heads.detections_per_img = seed_model.roi_heads.detections_per_img
    ours.eval()
    image = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        feats_seed = seed_model.backbone(image)
        feats_ours = ours.backbone(image)
        for name in feats_seed:
            # BatchNorm2d and FrozenBatchNorm2d round differently; through 100 layers that stays below 1e-3.
            scale = feats_seed[name].abs().max()
            assert (feats_ours[name] - feats_seed[name]).abs().max() / scale < 1e-3, name
        got, expected = ours([image[0]])[0], seed_model([image[0]])[0]
    assert len(expected["scores"]) >= 10
    torch.testing.assert_close(got["scores"][:10], expected["scores"][:10], rtol=0, atol=1e-3)


@pytest.mark.slow
def test_default_configuration_trains_end_to_end_at_256():
    """The real default network, at its real 256x256 size, one plain-SGD step from scratch."""
    from helpers.rods import rod_batch

    model = maskrcnn_resnet101_fpn(weights_backbone=None)
    model.train()
    images, targets = rod_batch(2, 256, seed=5, rods=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.003, momentum=0.9, weight_decay=1e-4)
    losses = model(images, targets)
    assert set(losses) == {
        "loss_classifier",
        "loss_box_reg",
        "loss_mask",
        "loss_objectness",
        "loss_rpn_box_reg",
    }
    total = sum(losses.values())
    assert torch.isfinite(total)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        out = model([images[0]])[0]
    assert out["masks"].shape[1:] == (1, 256, 256)
    assert torch.isfinite(out["scores"]).all()
