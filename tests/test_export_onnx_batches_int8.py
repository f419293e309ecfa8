"""ONNX export with a batch axis (N > 1, masks, images without detections) and int8 static quantization."""

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import detecting_model, save_detecting_model
from helpers.precision import match
from helpers.rods import rods_image
from maskrcnn_custom import OnnxPredictor, export_onnx, predict
from maskrcnn_custom.cli import main
from maskrcnn_custom.export.quantize import FLOAT_NODE_PREFIXES

onnx = pytest.importorskip(
    "onnx", reason='ONNX export needs the [onnx] extra: pip install "maskrcnn-custom[onnx]"'
)
pytest.importorskip(
    "onnxruntime", reason='OnnxPredictor needs the [onnx] extra: pip install "maskrcnn-custom[onnx]"'
)

# Batched ONNX Runtime vs eager PyTorch, float32 (the same tolerances as the one-image export's tests).
BOX_ATOL = 1e-2  # pixels
SCORE_ATOL = 1e-4
MASK_MAX_DISAGREEMENT = 1e-3  # fraction of a mask's pixels
# int8 vs float32 ONNX on the test model (random backbone, so its features are unusually hard to quantize):
INT8_MIN_MATCHED = 0.6  # share of float detections found again (same label, box IoU >= 0.5)
INT8_MIN_BOX_IOU = 0.7  # every matched box
INT8_MIN_MEAN_BOX_IOU = 0.9  # mean over matched boxes
INT8_MIN_MEAN_MASK_IOU = 0.7  # mean over matched detections
BATCH = 3


@pytest.fixture(scope="module")
def model():
    return detecting_model()


@pytest.fixture(scope="module")
def batched(model, tmp_path_factory):
    path = export_onnx(model, tmp_path_factory.mktemp("b") / "b3.onnx", image_size=96, batch_size=BATCH)
    return OnnxPredictor(path)


def _assert_same(eager, ort):
    for e, o in zip(eager, ort, strict=True):
        assert len(e) == len(o) and e.image_size == o.image_size
        assert torch.equal(e.labels, o.labels)
        torch.testing.assert_close(o.boxes, e.boxes, atol=BOX_ATOL, rtol=0)
        torch.testing.assert_close(o.scores, e.scores, atol=SCORE_ATOL, rtol=0)
        assert o.masks.shape == e.masks.shape and o.masks.dtype == torch.bool
        for om, em in zip(o.masks, e.masks, strict=True):
            assert float((om != em).float().mean()) <= MASK_MAX_DISAGREEMENT


def test_batched_graph_signature(batched):
    assert batched.batch_size == BATCH
    assert [i.name for i in batched.session.get_inputs()] == ["images", "score_threshold", "mask_threshold"]
    assert batched.session.get_inputs()[0].shape[:2] == [BATCH, 3]
    assert [o.name for o in batched.session.get_outputs()][-1] == "detections_per_image"
    assert batched.metadata["maskrcnn_custom.batch_size"] == str(BATCH)


def test_batch_with_an_image_without_detections_matches_eager(model, batched):
    blank = torch.full((3, 96, 96), 0.2)
    images = [rods_image(seed=0), blank, rods_image(seed=2)]
    top = [float(p.scores.max()) for p in predict(model, images, score_threshold=0.05)]
    # a threshold between the blank image's best score and the rods images' best scores
    threshold = (top[1] + min(top[0], top[2])) / 2
    assert min(top[0], top[2]) - top[1] > 0.05  # the test's premise: a clear gap
    eager = predict(model, images, score_threshold=threshold)
    assert [len(p) > 0 for p in eager] == [True, False, True]
    ort = batched.predict(images, score_threshold=threshold)
    _assert_same(eager, ort)
    assert ort[1].masks.shape == (0, 96, 96)


def test_batches_split_by_size_and_short_batches_are_filled(model, batched):
    # sizes 96, 96, 128, 96, 96: runs of [96, 96] (one blank added), [128] (two), [96, 96] (one)
    images = [
        rods_image(seed=0),
        rods_image(seed=1),
        rods_image(size=128, seed=2),
        rods_image(seed=3),
        rods_image(seed=4),
    ]
    eager = predict(model, images, score_threshold=0.3)
    assert sum(len(p) for p in eager) >= 15
    _assert_same(eager, batched.predict(images, score_threshold=0.3))


def test_bad_batch_size(model, tmp_path):
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="batch_size"):
            export_onnx(model, tmp_path / "x.onnx", batch_size=bad)
    assert not (tmp_path / "x.onnx").exists()


# ----------------------------------------------------------------------------------------------------- int8


@pytest.fixture(scope="module")
def int8(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("q")
    calibration = [rods_image(seed=s) for s in range(10, 14)]
    path = export_onnx(model, folder / "int8.onnx", image_size=96, quantize="int8", calibration=calibration)
    return OnnxPredictor(path), OnnxPredictor(export_onnx(model, folder / "fp32.onnx", image_size=96))


def test_int8_graph_quantizes_the_backbone_and_keeps_the_roi_heads_float(int8):
    q, _ = int8
    graph = onnx.load(str(q.path)).graph
    quantized = {n.name for n in graph.node if n.op_type == "DequantizeLinear"}
    assert len(quantized) >= 40  # weights and activations of the backbone, FPN and RPN convolutions
    produced_by_dq = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    for node in graph.node:
        if node.name.startswith(FLOAT_NODE_PREFIXES) and node.op_type in ("Conv", "Gemm", "ConvTranspose"):
            assert not set(node.input) & produced_by_dq, node.name  # float weights and inputs
    assert q.metadata["maskrcnn_custom.precision"] == "int8"
    assert q.metadata["maskrcnn_custom.max_detections"] == "20"


def test_int8_detections_and_masks_within_tolerance_of_float(int8):
    q, f = int8
    images = [rods_image(seed=s) for s in range(4)]
    ref, out = f.predict(images, score_threshold=0.5), q.predict(images, score_threshold=0.5)
    n_ref = sum(len(p) for p in ref)
    assert n_ref >= 10
    matches = [m for r, o in zip(ref, out, strict=True) for m in match(r, o)]
    assert len(matches) >= INT8_MIN_MATCHED * n_ref
    assert min(m[2] for m in matches) >= INT8_MIN_BOX_IOU
    assert np.mean([m[2] for m in matches]) >= INT8_MIN_MEAN_BOX_IOU
    assert np.mean([m[4] for m in matches]) >= INT8_MIN_MEAN_MASK_IOU
    # masks are real shapes, not the all-or-nothing masks of a broken int8 mask head
    for p in out:
        fill = p.masks.flatten(1).float().mean(1)
        assert bool((fill > 0).all()) and bool((fill < 0.5).all())


@pytest.mark.parametrize(
    "calibration",
    [
        None,
        [],
        torch.rand(3, 64, 64),  # one image, not a list
        [torch.rand(5, 64, 64)],  # five channels
        [torch.zeros(3, 64, 64, dtype=torch.int32)],  # integer dtype other than uint8
        [torch.rand(3, 64, 64), torch.full((3, 64, 64), float("nan"))],
        [torch.rand(3, 64, 64) * 3],  # outside [0, 1]
    ],
)
def test_bad_calibration_is_rejected_before_export(model, tmp_path, calibration):
    with pytest.raises(ValueError, match="calibration"):
        export_onnx(model, tmp_path / "q.onnx", quantize="int8", calibration=calibration)
    assert not list(tmp_path.iterdir())


def test_bad_quantize_arguments(model, tmp_path):
    with pytest.raises(ValueError, match="quantize"):
        export_onnx(model, tmp_path / "q.onnx", quantize="int4", calibration=[torch.rand(3, 64, 64)])
    with pytest.raises(ValueError, match="calibration"):
        export_onnx(model, tmp_path / "q.onnx", calibration=[torch.rand(3, 64, 64)])
    assert not list(tmp_path.iterdir())


def test_cli_export_int8_with_a_calibration_folder(tmp_path):
    weights = save_detecting_model(tmp_path / "weights")
    folder = tmp_path / "calib"
    folder.mkdir()
    Image.fromarray((rods_image(seed=7)[0].numpy() * 255).astype(np.uint8)).save(folder / "c.png")
    base = ["export", "--weights", str(weights), "--image-size", "64"]
    out = tmp_path / "q.onnx"
    assert main([*base, "--out", str(out), "--quantize", "int8", "--calibration", str(folder)]) == 0
    predictor = OnnxPredictor(out)
    assert predictor.metadata["maskrcnn_custom.precision"] == "int8" and predictor.batch_size == 1
    [p] = predictor.predict(rods_image())
    assert p.image_size == (96, 96)


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--quantize", "int8"], "--calibration"),
        (["--calibration", "x.png"], "--quantize"),
        (["--quantize", "int8", "--calibration", "missing.png"], "missing.png"),
    ],
)
def test_cli_export_bad_quantize_arguments_fail_before_loading_weights(tmp_path, capsys, extra, match):
    # the weights folder does not exist: an error about it would mean they were loaded first
    argv = ["export", "--weights", str(tmp_path / "no-weights"), "--out", str(tmp_path / "q.onnx"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "no-weights" not in err
    assert not (tmp_path / "q.onnx").exists()
