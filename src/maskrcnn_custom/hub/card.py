"""The ``README.md`` model card written next to saved weights (YAML front matter the Hub understands)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..models.config import MaskRCNNConfig

__all__ = ["DEFAULT_TAGS", "render_model_card"]

#: Tags every card carries (more can be added with ``tags=``).
DEFAULT_TAGS: tuple[str, ...] = (
    "maskrcnn-custom",
    "instance-segmentation",
    "mask-rcnn",
    "pytorch",
    "safetensors",
)


def _front_matter(
    *,
    name: str,
    license: str,
    tags: Sequence[str],
    metrics: Mapping[str, float],
    dataset_name: str,
) -> str:
    from huggingface_hub import EvalResult, ModelCardData

    results = [
        EvalResult(
            task_type="image-segmentation",
            task_name="Instance segmentation",
            dataset_type=dataset_name,
            dataset_name=dataset_name,
            metric_type=key,
            metric_value=float(value),
            metric_name=key,
        )
        for key, value in metrics.items()
    ]
    data = ModelCardData(
        library_name="maskrcnn-custom",
        license=license,
        tags=list(dict.fromkeys([*DEFAULT_TAGS, *tags])),
        pipeline_tag="image-segmentation",
        model_name=name,
        eval_results=results or None,
    )
    return data.to_yaml()


def _preset_dict(preset: Any) -> dict[str, Any] | None:
    if preset is None:
        return None
    if hasattr(preset, "to_dict") and callable(preset.to_dict):
        preset = preset.to_dict()
    if not isinstance(preset, Mapping) or not isinstance(preset.get("name"), str):
        raise TypeError(
            "preset must be a TrainingPreset or its to_dict() (a mapping with a 'name'), "
            f"got {type(preset).__name__}"
        )
    return dict(preset)


def _cell(value: Any) -> str:
    return f"`{value}`" if value not in (None, "") else "-"


def _preset_section(preset: Mapping[str, Any], run_recipe: Mapping[str, Any] | None) -> list[str]:
    """The "Training preset" section: what the preset is, how it departs from the seed network, its recipe."""
    name = preset["name"]
    model = dict(preset.get("model") or {})
    augmentation = preset.get("augmentation")
    lines = ["## Training preset", ""]
    if name == "seed":
        lines.append(
            "Trained with the `seed` training preset: the seed network (the defaults of "
            "`maskrcnn_resnet101_fpn()`) and the seed recipe."
        )
    else:
        lines.append(
            f"Trained with the `{name}` training preset (`maskrcnn_custom.get_preset({name!r})`). The "
            f"`{name}` preset trades the seed network's defaults (those of `maskrcnn_resnet101_fpn()`: ResNet-101 "
            "FPN with the seed's heads) for speed on a CPU; the settings it changes are listed below, and the "
            "seed network itself is unchanged."
        )
    if preset.get("description"):
        lines += ["", f"Preset description: {preset['description']}"]
    lines += [
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| architecture | {_cell(preset.get('architecture'))} |",
        f"| image size | {preset.get('image_size', '-')} px |",
    ]
    lines += [f"| {k} | {_cell(v)} |" for k, v in model.items()]
    if augmentation is None:
        aug = "none"
    elif not augmentation:
        aug = "`train_transforms()` (its defaults)"
    else:
        aug = "`train_transforms(" + ", ".join(f"{k}={v!r}" for k, v in augmentation.items()) + ")`"
    lines.append(f"| training augmentation | {aug} |")
    recipe = preset.get("recipe") or {}
    if recipe and run_recipe is not None and all(run_recipe.get(k) == v for k, v in recipe.items()):
        lines += ["", f"The run used the `{name}` preset's full recipe unchanged (the Training table below)."]
    elif recipe:
        lines += [
            "",
            f"The `{name}` preset's recipe (`TrainingRecipe`):",
            "",
            "| field | value |",
            "| --- | --- |",
        ]
        lines += [f"| {k} | {_cell(v)} |" for k, v in recipe.items()]
        if run_recipe:
            lines += ["", "The run changed some of these fields; the Training table below has what it used."]
    return lines


def render_model_card(
    config: MaskRCNNConfig,
    *,
    name: str,
    repo_id: str | None = None,
    license: str = "mit",
    tags: Sequence[str] = (),
    metrics: Mapping[str, float] | None = None,
    dataset_name: str = "custom",
    recipe: Mapping[str, Any] | None = None,
    notes: str | None = None,
    preset: Mapping[str, Any] | Any | None = None,
) -> str:
    """Return the text of a model card for weights saved with ``config``.

    Args:
        config: The model's config (architecture summary and class names come from it).
        name: Model name, the card's title.
        repo_id: Hub repository the card will live in (used in the usage snippet), if known.
        license: License identifier for the front matter.
        tags: Extra tags.
        metrics: Evaluation results, e.g. ``{"segm_mAP": 0.61}``.
        dataset_name: What the metrics were measured on.
        recipe: Training recipe to record.
        notes: Free text appended under "Notes".
        preset: The training preset the model was trained with (a :class:`~maskrcnn_custom.TrainingPreset` or
            its :meth:`~maskrcnn_custom.TrainingPreset.to_dict`): the card gets a "Training preset" section with
            its architecture, image size, model settings, augmentation and full recipe, and says how a preset
            other than ``"seed"`` departs from the seed network (``maskrcnn_resnet101_fpn()`` defaults).

    Returns:
        Markdown with YAML front matter (``library_name: maskrcnn-custom``, license, tags, metrics).

    Examples:
        >>> from maskrcnn_custom import MaskRCNNConfig
        >>> from maskrcnn_custom.hub.card import render_model_card
        >>> render_model_card(MaskRCNNConfig(), name="demo").startswith("---")
        True
    """
    metrics = dict(metrics or {})
    preset_dict = _preset_dict(preset)
    header = _front_matter(name=name, license=license, tags=tags, metrics=metrics, dataset_name=dataset_name)
    source = repo_id if repo_id is not None else "path/to/this/folder"
    classes = config.class_names or tuple(f"class {i}" for i in range(config.num_classes))
    lines = [
        "---",
        header.rstrip("\n"),
        "---",
        "",
        f"# {name}",
        "",
        "Mask R-CNN instance segmentation weights saved with "
        "[maskrcnn-custom](https://github.com/maskrcnn-custom/maskrcnn-custom): "
        f"{config.backbone.name} FPN backbone, {config.num_classes} classes (background included), "
        f"{config.min_size}x{config.max_size} input size.",
        "",
        "## Usage",
        "",
        "```python",
        "import torch",
        "from maskrcnn_custom import from_pretrained",
        "",
        f'model = from_pretrained("{source}")  # eval mode',
        "with torch.no_grad():",
        f"    predictions = model([torch.rand(3, {config.max_size}, {config.max_size})])",
        "# fine-tune on other classes: from_pretrained(..., num_classes=N)",
        "```",
        "",
        "## Classes",
        "",
        *(f"{i}. `{c}`" for i, c in enumerate(classes)),
        "",
        "## Architecture",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| backbone | {config.backbone.name}, norm `{config.backbone.norm}` |",
        f"| anchor sizes | `{config.anchors.sizes}` |",
        f"| aspect ratios | `{config.anchors.aspect_ratios[0]}` on each level |",
        f"| mask predictor hidden channels | {config.mask_head.hidden_dim} |",
        f"| mask head | {config.mask_head.resolution} px masks, norm `{config.mask_head.norm}`, "
        f"paste `{config.mask_head.paste}` |",
        f"| box refinement at inference | {config.box_head.refine_steps} extra box-head passes |",
        "| dense foreground branch | "
        + (
            f"{config.mask_head.foreground_dim} channels, masks gated at {config.mask_head.foreground_gate} |"
            if config.mask_head.foreground_dim
            else "none |"
        ),
        "",
        "The full configuration is in `config.json`; the weights are in `model.safetensors`.",
    ]
    if metrics:
        lines += [
            "",
            "## Metrics",
            "",
            f"Measured on: {dataset_name}.",
            "",
            "| metric | value |",
            "| --- | --- |",
        ]
        lines += [f"| {k} | {float(v):.4f} |" for k, v in metrics.items()]
    if preset_dict is not None:
        lines += ["", *_preset_section(preset_dict, recipe)]
    if recipe:
        lines += ["", "## Training", "", "| setting | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in recipe.items()]
    if notes:
        lines += ["", "## Notes", "", notes]
    return "\n".join(lines) + "\n"
