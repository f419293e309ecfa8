"""The weights table in docs/hub.md is generated from the enums' metadata, never edited by hand."""

from __future__ import annotations

from pathlib import Path

from maskrcnn_custom import weights_table_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "hub.md"
START, END = "<!-- weights-table:start -->\n", "<!-- weights-table:end -->"


def test_docs_table_matches_the_enums():
    text = DOC.read_text(encoding="utf-8")
    embedded = text.split(START, 1)[1].split(END, 1)[0]
    assert embedded == weights_table_markdown(), (
        "docs/hub.md is out of date: paste the output of maskrcnn_custom.weights_table_markdown() between "
        "the weights-table markers"
    )


def test_table_lists_every_member_and_publication_state():
    table = weights_table_markdown()
    assert table.count("BackboneWeights.IMAGENET1K_V") == 8
    assert "`main` (not pinned)" in table  # resnet101 V1: no full commit hash known
    assert "| `MaskRCNNWeights.SEED_RESNET101_V1` |" in table and "| no | not measured yet |" in table
