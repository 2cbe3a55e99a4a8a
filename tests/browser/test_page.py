"""The real page in headless Chromium: edit the stack and watch the drawn SVG change."""

from __future__ import annotations

import base64
import json
import zlib

from playwright.sync_api import expect

from helpers import ARTIFACTS

EDGE_TEXT = "svg g.edge text"


def edge_labels(page) -> list[str]:
    return page.locator(EDGE_TEXT).all_text_contents()


def wait_for_edge_label(page, text: str, present: bool = True) -> None:
    script = """([selector, text, present]) =>
        [...document.querySelectorAll(selector)].some(t => t.textContent.includes(text)) === present"""
    page.wait_for_function(script, arg=[EDGE_TEXT, text, present], timeout=20_000)


def test_add_a_layer_and_toggle_return_sequences(page) -> None:
    assert any("(batch=4, time=20, features=64)" in label for label in edge_labels(page))
    assert not any("needs a sequence" in label for label in edge_labels(page))
    # The summary's notes are read whole, not cut at a column's edge.
    note = page.get_by_text("hands on only its last time step (output[:, -1] = h_n[-1])", exact=True)
    expect(note).to_be_visible(timeout=20_000)
    assert note.evaluate("cell => cell.scrollWidth <= cell.clientWidth")

    page.get_by_role("button", name="Add layer").click()
    # The GRU before the new LSTM now hands on its sequence, so that the stack keeps working, and the page says so.
    wait_for_edge_label(page, "(batch=4, time=20, features=32)")
    expect(page.get_by_text("Layer 2 now hands on its whole sequence").first).to_be_visible()

    labels = page.locator("[data-testid=stMarkdownContainer]").get_by_text("return_sequences", exact=True)
    labels.nth(1).click()  # off on the GRU, layer 2: the classic mistake
    wait_for_edge_label(page, "needs a sequence")
    assert page.get_by_text("layer 3 (LSTM) needs a sequence").first.is_visible()
    labels.nth(1).click()
    wait_for_edge_label(page, "needs a sequence", present=False)
    assert "a=" in page.url  # the link now holds the edited architecture

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page_after_edits.png"), full_page=True)


def test_a_conv_layer_from_the_grouped_picker_goes_in_where_the_user_says(page) -> None:
    """Pick Conv1D in its group, insert it after layer 1, make its window too long, and Fix it."""
    page.get_by_role("combobox", name="New layer").click()
    page.get_by_role("option", name="Convolution and pooling · Conv1D").click()
    page.locator(".st-key-layer0-insert button").first.click()
    wait_for_edge_label(page, "(batch=4, time=20, features=32)")  # Conv1D(32, kernel 3, same) keeps 20 steps
    graph = page.locator(".dataflow svg")
    expect(graph.get_by_text("Conv1D(32, kernel 3, same)")).to_be_visible(timeout=20_000)
    expect(graph.get_by_text("transposed to (batch, features, time) and back")).to_be_visible()

    page.locator(".st-key-layer1-padding").get_by_role("combobox").click()
    page.get_by_role("option", name="valid", exact=True).click()
    wait_for_edge_label(page, "(batch=4, time=18, features=32)")
    kernel = page.locator(".st-key-layer1-kernel_size input")
    kernel.fill("25")
    kernel.press("Enter")
    expect(page.get_by_text("no position fits").first).to_be_visible(timeout=20_000)
    page.get_by_role("button", name="Fix").first.click()  # padding 'same' again
    wait_for_edge_label(page, "(batch=4, time=20, features=32)")
    expect(page.get_by_text("no position fits")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "page_conv_layer.png"), full_page=True)


def test_fix_button_repairs_the_broken_preset(page) -> None:
    page.get_by_role("combobox", name="Preset").click()
    page.get_by_role("option", name="Broken stack (teaching)").click()
    page.get_by_role("button", name="Load preset").click()
    wait_for_edge_label(page, "needs a sequence")
    page.get_by_role("button", name="Fix").first.click()
    wait_for_edge_label(page, "needs a sequence", present=False)


def test_a_bad_upload_keeps_the_architecture(page, tmp_path) -> None:
    before = edge_labels(page)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"input": {"features": 10}, "layers": [{"type": "LSTM", "units": "many"}]}))
    page.locator("[data-testid=stSidebar] input[type=file]").set_input_files(str(bad))
    page.get_by_text("was not loaded").wait_for(timeout=20_000)
    assert page.get_by_text('layers[0].units must be an integer from 1 to 65536, received "many"').first.is_visible()
    assert edge_labels(page) == before


def test_a_good_upload_replaces_the_architecture(page, tmp_path) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps({"input": {"features": 3, "seq_len": 7, "batch": 2}, "layers": [{"type": "GRU", "units": 9}]})
    )
    page.locator("[data-testid=stSidebar] input[type=file]").set_input_files(str(good))
    wait_for_edge_label(page, "(batch=2, features=9)")


def test_a_link_cannot_put_a_live_link_an_image_or_a_heading_on_the_page(browser, app_url: str) -> None:
    """A shared link whose keys are markdown, bare addresses and an e-mail: the notice shows them as typed."""
    keys = ["[log in](http://phish.example)", "![x](http://tracker.example/p.png)", "# Heading", "www.evil.example",
            "x@evil.example", "<img src=x onerror=alert(1)>"]  # fmt: skip
    raw = json.dumps({"input": {"features": 10, **dict.fromkeys(keys, 1)}, "layers": []}).encode()
    link = base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    try:
        page.goto(f"{app_url}/?a={link}")
        page.wait_for_selector(EDGE_TEXT, timeout=60_000)
        alert = page.locator("[data-testid=stAlert]").filter(has_text="was not loaded")
        expect(alert).to_have_count(1, timeout=20_000)
        assert alert.locator("a, img, h1, h2, h3").count() == 0
        text = alert.inner_text().replace("\u2060", "")  # the word joiners that keep addresses unlinked
        assert all(f'"{key}"' in text.replace('\\"', '"') or key in text for key in keys)
    finally:
        context.close()


def test_hostile_uploaded_files_get_a_message_shown_as_typed(page, tmp_path) -> None:
    """The sidebar's upload, the entry point a student uses: deep nesting, a lone surrogate key, markup keys."""
    files = {
        "deep.json": '{"input": {"features": 10, "x": ' + "[" * 990 + "1" + "]" * 990 + '}, "layers": []}',
        "surrogate.json": '{"input": {"features": 10, "\\ud800": 1}, "layers": []}',
        "markup.json": json.dumps({"input": {"features": 10, "[a](http://x.example)": 1, "# big": 2}, "layers": []}),
        "not-json.json": "\x00\xff binary",
    }
    edges = edge_labels(page)
    uploader = page.locator("[data-testid=stFileUploader]").filter(has_text="Load an architecture file")
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        uploader.locator("input[type=file]").set_input_files(str(path))
        alert = page.locator("[data-testid=stAlert]").filter(has_text=f"The file {name} was not loaded")
        expect(alert).to_have_count(1, timeout=20_000)
        assert alert.locator("a, img, h1, h2, h3").count() == 0
        assert "Traceback" not in page.content()
        assert edge_labels(page) == edges  # the architecture on the page stays


PYTORCH_CODE = """import torch
import torch.nn as nn

class GRUNet(nn.Module):
    def __init__(self, vocab_size=25002, embedding_dim=100, hidden_dim=256, n_layers=2, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=1)
        self.rnn = nn.GRU(embedding_dim, hidden_dim, num_layers=n_layers, bidirectional=True, batch_first=True,
                          dropout=0 if n_layers < 2 else dropout)
        self.fc = nn.Linear(hidden_dim * 2, 1)

    def forward(self, text, text_lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(text), text_lengths, batch_first=True)
        _, hidden = self.rnn(packed)
        return self.fc(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1))
"""


def test_pasted_pytorch_code_becomes_the_architecture_on_the_page(page) -> None:
    page.get_by_text("Your model: paste Keras or PyTorch code").click()
    page.get_by_role("textbox", name="Code").fill(PYTORCH_CODE)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported GRUNet (pytorch).")).to_be_visible(timeout=20_000)
    wait_for_edge_label(page, "(batch, time, features=100)")  # the Embedding's output, variable length
    assert any("(batch, features=512)" in label for label in edge_labels(page))  # cat(h_n[-2], h_n[-1])


def test_graph_downloads_are_named_after_the_view_drawn(page) -> None:
    with page.expect_download() as download:
        page.get_by_role("button", name="Graph (SVG)").click()
    assert download.value.suggested_filename == "architecture.svg"
    page.get_by_text("Unrolled in time").click()
    wait_for_edge_label(page, "(batch=4, time=20, features=10)", present=False)  # the unrolled view has none
    with page.expect_download() as download:
        page.get_by_role("button", name="Graph (SVG)").click()
    assert download.value.suggested_filename == "unrolled.svg"
