"""The paper's published numbers: every one has its source."""

from __future__ import annotations

from dotcli.paper.published import PAPER_ROWS, PUBLISHED, paper_rows, published_for


def test_published_numbers_have_sources():
    for entry in PUBLISHED.values():
        assert all(p.source for p in entry.values())
    assert all(r.source and r.cells for r in PAPER_ROWS)
    assert published_for("gaussians25", "tanaka_wgangp", "dot")["hq"].value == 0.698
    assert {r.label for r in paper_rows("stl10")} == {"paper, model not named", "paper, best DOT entry, row unknown"}
