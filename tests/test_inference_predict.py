import pytest
import torch

from helpers.models import detecting_model
from helpers.rods import rods_image
from maskrcnn_custom import MaskRCNNConfig, Prediction, predict


@pytest.fixture(scope="module")
def model():
    return detecting_model()


@pytest.fixture(scope="module")
def images():
    return [rods_image(seed=0), rods_image(seed=1)]


def _count_mask_rois(model):
    counts = []
    handle = model.roi_heads.mask_head.register_forward_hook(
        lambda m, i, o: counts.append(int(i[0].shape[0]))
    )
    return counts, handle


def test_threshold_applies_before_the_mask_head_and_matches_plain_torchvision(model, images):
    counts, handle = _count_mask_rois(model)
    try:
        with torch.no_grad():
            plain = model(images)  # torchvision's defaults: score > 0.05
        plain_counts = list(counts)
        counts.clear()
        preds = predict(model, images, score_threshold=0.5, batch_size=2)
    finally:
        handle.remove()
    plain_total = sum(len(p["scores"]) for p in plain)
    kept_total = sum(len(p) for p in preds)
    assert plain_counts == [plain_total]  # plain torchvision runs the mask head on every low-score detection
    assert 0 < kept_total < plain_total
    assert counts == [kept_total]  # predict runs it only on the detections it returns
    for out, pred in zip(plain, preds, strict=True):
        keep = out["scores"] > 0.5
        assert len(pred) == int(keep.sum())
        torch.testing.assert_close(pred.boxes, out["boxes"][keep])
        torch.testing.assert_close(pred.scores, out["scores"][keep])
        assert torch.equal(pred.labels, out["labels"][keep])
        assert torch.equal(pred.masks, out["masks"][keep][:, 0] > 0.5)


def test_results_are_typed_and_sorted(model, images):
    preds = predict(model, images, score_threshold=0.3, mask_threshold=0.4)
    assert len(preds) == 2
    for p in preds:
        assert isinstance(p, Prediction)
        n = len(p)
        assert n > 0
        assert p.boxes.shape == (n, 4) and p.boxes.dtype == torch.float32
        assert p.labels.dtype == torch.int64 and bool((p.labels >= 1).all())
        assert p.masks.shape == (n, 96, 96) and p.masks.dtype == torch.bool
        assert bool((p.scores > 0.3).all()) and bool((p.scores[:-1] >= p.scores[1:]).all())
        assert p.image_size == (96, 96) and p.names is None and p.source is None


def test_mask_threshold_changes_only_masks(model, images):
    lo = predict(model, images[0], score_threshold=0.5, mask_threshold=0.2)[0]
    hi = predict(model, images[0], score_threshold=0.5, mask_threshold=0.8)[0]
    torch.testing.assert_close(lo.boxes, hi.boxes)
    assert bool((hi.masks <= lo.masks).all()) and int(lo.masks.sum()) > int(hi.masks.sum())


def test_settings_and_mode_are_restored_also_after_an_error(model, images):
    model.train()
    before = (
        model.roi_heads.score_thresh,
        model.roi_heads.detections_per_img,
        dict(model.rpn._post_nms_top_n),
    )

    def boom(*args):
        raise RuntimeError("boom")

    handle = model.roi_heads.mask_head.register_forward_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            predict(model, images[0], score_threshold=0.3, max_detections=5, num_proposals=50)
    finally:
        handle.remove()
    assert model.training
    assert (
        model.roi_heads.score_thresh,
        model.roi_heads.detections_per_img,
        model.rpn._post_nms_top_n,
    ) == before
    preds = predict(model, images[0], score_threshold=0.05, max_detections=5)
    assert model.training and len(preds[0]) == 5
    model.eval()


def test_batch_size_does_not_change_results(model, images):
    one = predict(model, images, batch_size=1, score_threshold=0.3)
    two = predict(model, images, batch_size=2, score_threshold=0.3)
    for a, b in zip(one, two, strict=True):
        torch.testing.assert_close(a.boxes, b.boxes, atol=1e-3, rtol=0)
        torch.testing.assert_close(a.scores, b.scores, atol=1e-4, rtol=0)


def test_class_names_come_from_the_config(images):
    model = detecting_model()
    model.config = model.config.replace(class_names=("background", "rod"))
    assert isinstance(model.config, MaskRCNNConfig)
    [p] = predict(model, images[0])
    assert len(p) > 0 and p.names == ["rod"] * len(p) and p.class_names == ("background", "rod")


def test_input_size_is_kept(model):
    img = rods_image(size=96)[:, :80, :]
    [p] = predict(model, img, score_threshold=0.3)
    assert p.image_size == (80, 96) and p.masks.shape[1:] == (80, 96)
    assert float(p.boxes[:, 2].max()) <= 96 and float(p.boxes[:, 3].max()) <= 80


def test_progress_bar(model, images, capsys):
    predict(model, images, score_threshold=0.5, progress=True)
    assert "2/2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"score_threshold": 1.5}, ValueError, "score_threshold"),
        ({"score_threshold": "0.5"}, TypeError, "score_threshold"),
        ({"mask_threshold": -0.1}, ValueError, "mask_threshold"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"max_detections": 0}, ValueError, "max_detections"),
        ({"num_proposals": 2.5}, ValueError, "num_proposals"),
        ({"progress": "yes"}, TypeError, "progress"),
    ],
)
def test_bad_arguments_raise(model, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        predict(model, torch.rand(3, 16, 16), **kwargs)


def test_bad_image_raises_before_any_inference(model, images):
    calls = []
    handle = model.backbone.register_forward_hook(lambda *a: calls.append(1))
    try:
        with pytest.raises(TypeError, match=r"images\[2\].*dict"):
            predict(model, [images[0], images[1], {"not": "an image"}])
    finally:
        handle.remove()
    assert calls == []


def test_non_maskrcnn_model_is_rejected():
    with pytest.raises(TypeError, match="MaskRCNN"):
        predict(torch.nn.Linear(2, 2), torch.rand(3, 8, 8))


def test_empty_list_gives_no_results(model):
    assert predict(model, []) == []
