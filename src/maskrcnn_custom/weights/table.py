"""The table of known weights in the docs, generated from the enums' metadata (never written by hand)."""

from __future__ import annotations

from .backbone import BACKBONE_WEIGHTS_BY_ARCH
from .model import MaskRCNNWeights

__all__ = ["weights_table_markdown"]


def _revision(revision: str) -> str:
    return f"`{revision[:12]}`" if len(revision) == 40 else f"`{revision}` (not pinned)"


def weights_table_markdown() -> str:
    """Return Markdown tables of the backbone and whole-model weights the library knows.

    ``docs/hub.md`` embeds this output verbatim between ``<!-- weights-table:start -->`` and
    ``<!-- weights-table:end -->``; a test keeps the two identical.

    Returns:
        Markdown text.

    Examples:
        >>> from maskrcnn_custom.weights import weights_table_markdown
        >>> "timm/resnet101.tv_in1k" in weights_table_markdown()
        True
    """
    lines = [
        "### ImageNet backbone weights (`weights_backbone=`)",
        "",
        "| enum member | Hub repo | revision | SHA-256 checked | acc@1 | acc@5 | params | license |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cls in BACKBONE_WEIGHTS_BY_ARCH.values():
        for name, member in cls.__members__.items():
            if name == "DEFAULT":
                continue
            w = member.value
            metrics = w.meta.get("metrics", {})
            lines.append(
                f"| `{cls.__name__}.{name}` | [{w.repo_id}]({w.meta.get('source', '')}) | {_revision(w.revision)} "
                f"| {'yes' if w.sha256 else 'no'} | {metrics.get('acc@1', 0):.3f} | {metrics.get('acc@5', 0):.3f} "
                f"| {w.meta.get('num_params', 0) / 1e6:.1f} M | {w.meta.get('license', '')} |"
            )
    lines += [
        "",
        "`DEFAULT` is `IMAGENET1K_V1` for every backbone (torchvision's default).",
        "",
        "### Whole-model weights (`weights=`, `from_pretrained`)",
        "",
        "| enum member | Hub repo | backbone | classes | published | metrics |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, member in MaskRCNNWeights.__members__.items():
        m = member.value
        metrics = ", ".join(f"{k} {v}" for k, v in m.metrics.items()) or "not measured yet"
        lines.append(
            f"| `MaskRCNNWeights.{name}` | `{m.repo_id}` | {m.arch} | {', '.join(f'`{c}`' for c in m.categories)} "
            f"| {'yes' if m.published else 'no'} | {metrics} |"
        )
    return "\n".join(lines) + "\n"
