import numpy as np
import pytest
import torch

from helpers.models import detecting_model, save_detecting_model
from helpers.rods import rods_image
from maskrcnn_custom import OnnxPredictor, export_onnx, predict
from maskrcnn_custom.cli import main

pytest.importorskip("onnx", reason='ONNX export needs the [onnx] extra: pip install "maskrcnn-custom[onnx]"')
pytest.importorskip(
    "onnxruntime", reason='OnnxPredictor needs the [onnx] extra: pip install "maskrcnn-custom[onnx]"'
)

# Parity tolerances between ONNX Runtime and eager PyTorch (float32 on CPU).
BOX_ATOL = 1e-2  # pixels
SCORE_ATOL = 1e-4
MASK_MAX_DISAGREEMENT = 1e-3  # fraction of pixels of a mask that may differ


@pytest.fixture(scope="module")
def model():
    m = detecting_model()
    m.config = m.config.replace(class_names=("background", "rod"))
    return m


@pytest.fixture(scope="module")
def onnx_path(model, tmp_path_factory):
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx", image_size=96)


@pytest.fixture(scope="module")
def predictor(onnx_path):
    return OnnxPredictor(onnx_path)


def _images():
    return [rods_image(seed=0), rods_image(seed=1)[:, :80, :], rods_image(size=128, seed=2)]


@pytest.mark.parametrize("score_threshold", [0.5, 0.3])
def test_onnx_runtime_matches_eager_pytorch(model, predictor, score_threshold):
    images = _images()
    eager = predict(model, images, score_threshold=score_threshold)
    ort = predictor.predict(images, score_threshold=score_threshold)
    assert sum(len(p) for p in eager) >= 6  # the comparison is about real detections
    for e, o in zip(eager, ort, strict=True):
        assert len(e) == len(o) and e.image_size == o.image_size
        assert torch.equal(e.labels, o.labels)
        torch.testing.assert_close(o.boxes, e.boxes, atol=BOX_ATOL, rtol=0)
        torch.testing.assert_close(o.scores, e.scores, atol=SCORE_ATOL, rtol=0)
        assert o.masks.dtype == torch.bool and o.masks.shape == e.masks.shape
        for om, em in zip(o.masks, e.masks, strict=True):
            assert float((om != em).float().mean()) <= MASK_MAX_DISAGREEMENT
            assert int(em.sum()) > 0
        assert o.names == e.names == ["rod"] * len(e)


def test_export_leaves_the_model_as_it_was(model, onnx_path):
    assert model.roi_heads.score_thresh == 0.05 and not model.training
    assert [p.name for p in onnx_path.parent.iterdir()] == ["model.onnx"]  # written atomically


def test_thresholds_are_graph_inputs(predictor):
    img = rods_image()
    [lo] = predictor.predict(img, score_threshold=0.05, mask_threshold=0.3)
    [hi] = predictor.predict(img, score_threshold=0.5, mask_threshold=0.7)
    assert len(lo) > len(hi) > 0
    assert bool((lo.scores > 0.05).all()) and bool((hi.scores > 0.5).all())
    assert bool((hi.masks <= lo.masks[: len(hi)]).all())


def test_metadata_and_inputs(predictor, onnx_path):
    import onnx

    proto = onnx.load(str(onnx_path))
    assert [i.name for i in proto.graph.input] == ["image", "score_threshold", "mask_threshold"]
    assert [o.name for o in proto.graph.output] == ["boxes", "labels", "scores", "masks"]
    assert proto.opset_import[0].version == 17
    assert predictor.class_names == ("background", "rod")
    assert predictor.metadata["maskrcnn_custom.max_detections"] == "20"


def test_bad_inputs_and_arguments(model, predictor, tmp_path):
    with pytest.raises(TypeError, match=r"images\[1\]"):
        predictor.predict([rods_image(), object()])
    with pytest.raises(ValueError, match="score_threshold"):
        predictor.predict(rods_image(), score_threshold=2.0)
    with pytest.raises(ValueError, match="opset"):
        export_onnx(model, tmp_path / "x.onnx", opset=9)
    with pytest.raises(TypeError, match="MaskRCNN"):
        export_onnx(torch.nn.Linear(1, 1), tmp_path / "x.onnx")
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        OnnxPredictor(tmp_path / "missing.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_cli_export(tmp_path):
    weights = save_detecting_model(tmp_path / "weights")
    out = tmp_path / "cli.onnx"
    code = main(
        ["export", "--weights", str(weights), "--out", str(out), "--image-size", "64", "--opset", "16"]
    )
    assert code == 0
    [p] = OnnxPredictor(out).predict(np.zeros((64, 64, 3), dtype=np.uint8))
    assert p.image_size == (64, 64)
