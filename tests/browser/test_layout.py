"""The page on a 1024×768 projector with the sidebar open, as a teacher shows it: every preset, normal and
presentation mode. Controls do not overlap, selects show their values, graph labels are readable; screenshots at
three sizes are kept as artifacts. And a lesson walked end to end."""

from __future__ import annotations

from itertools import combinations

import pytest
from playwright.sync_api import expect

from explorer.presets import PRESETS, SHORT_NAMES, load_preset
from explorer.share import encode

from helpers import ARTIFACTS

PROJECTOR = {"width": 1024, "height": 768}
SIZES = {"projector": PROJECTOR, "laptop": {"width": 1280, "height": 720}, "desktop": {"width": 1440, "height": 900}}
MIN_LABEL_PX = 14

# Every control a layer card holds: its widgets' outer boxes.
CONTROLS = ", ".join(
    f"[data-testid={test_id}]"
    for test_id in ("stNumberInput", "stSelectbox", "stCheckbox", "stButton", "stTooltipIcon", "stExpander")
)

LAYOUT_FACTS = """(controls) => {
    const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const cards = [...document.querySelectorAll("[class*='st-key-card']")].map(card => ({
        card: box(card),
        controls: [...card.querySelectorAll(controls)]
            .filter(e => e.getBoundingClientRect().width > 0)
            .filter(e => !e.parentElement.closest(controls))  // the outermost: a button's tooltip is part of it
            .map(e => ({name: e.getAttribute("data-testid") + ":" + (e.innerText || "").slice(0, 30), box: box(e)})),
    }));
    const selects = [...document.querySelectorAll("[data-testid=stSelectbox]")]
        .filter(s => s.getBoundingClientRect().width > 0 && s.getBoundingClientRect().right > 0)  // not folded away
        .map(s => {
            // A select is a text box holding the chosen value: its text must fit the box, not be cut.
            const input = s.querySelector("input[role=combobox]");
            const style = getComputedStyle(input);
            const pen = document.createElement("canvas").getContext("2d");
            pen.font = style.font;
            const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            const cut = pen.measureText(input.value).width > room + 1;
            return {label: input.getAttribute("aria-label"), value: input.value, cut};
        });
    const labels = [...document.querySelectorAll("div.dataflow svg g.edge text")]
        .map(t => t.getBoundingClientRect().height);
    // A switch's name on one line: "return_sequences" read whole, neither cut ("retur…") nor broken in two.
    const broken = [...document.querySelectorAll("[class*='st-key-card'] [data-testid=stCheckbox] p")]
        .filter(p => p.getBoundingClientRect().height > 1.5 * parseFloat(getComputedStyle(p).lineHeight)
                     || p.scrollWidth > p.clientWidth + 1)
        .map(p => p.innerText);
    return {cards, selects, broken, smallest: Math.min(...labels), count: labels.length};
}"""


# Presentation mode is on: its larger type applies and the sidebar has folded away.
PRESENTING = """() => getComputedStyle(document.documentElement).fontSize === "18px"
    && document.querySelector("[data-testid=stSidebar]").getBoundingClientRect().right <= 0"""
# The page's style sheet may arrive just after the graph: its rule for the graph's background says it is there.
CSS_APPLIED = """() =>
    getComputedStyle(document.querySelector("div.dataflow svg g.graph > polygon")).fill === "none" """


def switch_presentation(page, on: bool) -> None:
    """Presentation mode on or off from the keyboard (a click waits for the sidebar's animation to end)."""
    page.get_by_role("switch", name="Presentation mode").press("Space")
    page.wait_for_function(PRESENTING if on else f"() => !({PRESENTING})()", timeout=20_000)
    page.wait_for_timeout(150)


def overlap(a: list[float], b: list[float]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return min(width, height)


def open_page(browser, app_url: str, query: str, size: dict[str, int] = PROJECTOR):
    context = browser.new_context(viewport=size)
    page = context.new_page()
    page.goto(f"{app_url}/?{query}")
    page.wait_for_selector("div.dataflow svg g.edge text", timeout=60_000)
    page.wait_for_function(CSS_APPLIED, timeout=20_000)
    return context, page


def check_layout(page, name: str, present: bool) -> None:
    """No control of a layer card overlaps another or leaves the card, every select's value fits its box, every
    switch's name is on one line, the smallest edge label is readable, and the Fix button is on the first screen."""
    sidebar = page.get_by_test_id("stSidebar").bounding_box()
    assert (sidebar["x"] >= 0 and sidebar["width"] > 200) is not present, name  # open by default, folded presenting
    facts = page.evaluate(LAYOUT_FACTS, CONTROLS)
    assert facts["cards"], "every preset has layers"
    for card in facts["cards"]:
        for control in card["controls"]:
            left, _, right, _ = control["box"]
            assert left >= card["card"][0] - 1 and right <= card["card"][2] + 1, (name, present, control)
        for a, b in combinations(card["controls"], 2):
            assert overlap(a["box"], b["box"]) <= 1, (name, present, a, b)
    assert not facts["broken"], (name, present)
    for select in facts["selects"]:
        assert select["value"] and not select["cut"], (name, present, select)
    assert facts["count"] > 0 and facts["smallest"] >= MIN_LABEL_PX - 0.5, (name, present, facts["smallest"])
    fix = page.get_by_role("button", name="Fix")
    if fix.count():
        box = fix.first.bounding_box()
        assert box["y"] + box["height"] <= PROJECTOR["height"], (name, present)


def test_every_preset_is_readable_at_1024x768_with_the_sidebar_open_and_presenting(browser, app_url) -> None:
    """As a teacher goes through the presets in one session: each loaded from the sidebar, looked at, then shown
    in presentation mode and back."""
    context, page = open_page(browser, app_url, "")
    try:
        for name, short in SHORT_NAMES.items():
            page.get_by_role("combobox", name="Preset").click()
            page.keyboard.type(short)  # the list is longer than the dropdown shows: filter it, as a user would
            page.get_by_role("option", name=short, exact=True).click()
            page.get_by_role("button", name="Load preset").click()
            arch = load_preset(name)
            page.wait_for_function(
                """([count, title]) => {
                    const cards = document.querySelectorAll("[class*='st-key-card']");
                    return cards.length === count && cards[0].innerText.includes(title);
                }""",
                arg=[len(arch.layers), arch.layers[0].title()],
                timeout=20_000,
            )
            page.wait_for_timeout(150)  # the graph and the layout settle
            check_layout(page, name, present=False)
            switch_presentation(page, on=True)
            check_layout(page, name, present=True)
            switch_presentation(page, on=False)
        # The Train tab's settings too: the task and the device read whole ("Sequence classifi", "aut" before).
        page.get_by_role("tab", name="Train").click()
        expect(page.get_by_role("combobox", name="Task")).to_be_visible()
        selects = page.evaluate(LAYOUT_FACTS, CONTROLS)["selects"]
        assert {"Task", "Device"} <= {select["label"] for select in selects}
        for select in selects:
            assert select["value"] and not select["cut"], select
    finally:
        context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_screenshots_at_three_sizes(browser, app_url, size: str) -> None:
    broken = next(name for name in PRESETS if name.startswith("Teaching"))
    context, page = open_page(browser, app_url, f"a={encode(load_preset(broken))}", SIZES[size])
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        for present in (False, True):
            if present:
                switch_presentation(page, on=True)
            page.wait_for_timeout(300)
            page.screenshot(path=ARTIFACTS / f"page_{size}_{'presentation' if present else 'normal'}.png")
            # The graph's red edge and the Fix button are both on the first screen.
            expect(page.get_by_role("button", name="Fix")).to_be_in_viewport()
    finally:
        context.close()


def test_a_lesson_walked_end_to_end(browser, app_url) -> None:
    context, page = open_page(browser, app_url, "lesson=return-sequences")
    try:
        expect(page.get_by_text("What shape does layer 2, GRU(32) without return_sequences")).to_be_visible()
        labels = page.locator("div.dataflow svg g.edge text").all_text_contents()
        assert "?" in [label.strip() for label in labels]
        assert not any("(batch=4, features=32)" in label for label in labels)
        answer = page.get_by_role("textbox", name="Your prediction")
        answer.fill("(4, 20, 32)")
        page.get_by_role("button", name="Check").click()
        expect(page.get_by_text("hands on only its last step, so the time axis is gone")).to_be_visible()
        assert "?" in [label.strip() for label in page.locator("div.dataflow svg g.edge text").all_text_contents()]
        answer.fill("4, 32")
        answer.press("Enter")  # Enter checks too
        expect(page.get_by_text("Right: (batch=4, features=32).")).to_be_visible()
        page.wait_for_function(
            """() => [...document.querySelectorAll("div.dataflow svg g.edge text")]
                .some(t => t.textContent.includes("(batch=4, features=32)"))""",
            timeout=20_000,
        )
        page.get_by_role("button", name="Next lesson").click()
        expect(page.get_by_text("How many parameters does layer 2, the GRU(32) reading 64 features")).to_be_visible()
        assert "lesson=stacking" in page.url
        page.screenshot(path=ARTIFACTS / "lesson_stacking.png")
    finally:
        context.close()


def test_the_graph_follows_a_dark_theme(browser, app_url) -> None:
    """No white block: the graph's background is the page's and its lines and labels take the page's text
    colour; the red of a broken edge stays red."""
    broken = next(name for name in PRESETS if name.startswith("Teaching"))
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(f"{app_url}/?a={encode(load_preset(broken))}")
        page.wait_for_selector("div.dataflow svg g.edge text", timeout=60_000)
        page.wait_for_function(CSS_APPLIED, timeout=20_000)
        colours = page.evaluate(
            """() => {
                const rgb = c => c.match(/\\d+/g).slice(0, 3).map(Number);
                const fill = e => rgb(getComputedStyle(e).fill);
                const edges = [...document.querySelectorAll("div.dataflow svg g.edge text")];
                return {
                    page: rgb(getComputedStyle(document.querySelector(".stApp")).backgroundColor),
                    background: getComputedStyle(document.querySelector("div.dataflow svg g.graph > polygon")).fill,
                    labels: edges.filter(t => !t.getAttribute("fill")).map(fill),
                    red: edges.filter(t => t.getAttribute("fill")).map(fill),
                };
            }"""
        )
        assert sum(colours["page"]) < 3 * 60  # the dark theme is on
        assert colours["background"] == "none"
        assert colours["labels"] and all(sum(c) > 3 * 180 for c in colours["labels"])  # light on dark
        assert colours["red"] and all(c[0] > 150 and c[1] < 100 for c in colours["red"])
        page.screenshot(path=ARTIFACTS / "page_dark.png")
    finally:
        context.close()


def test_on_a_phone_the_graph_comes_before_the_editor(browser, app_url) -> None:
    context, page = open_page(browser, app_url, "", {"width": 390, "height": 844})
    try:
        graph = page.locator("div.dataflow svg").bounding_box()
        first_card = page.locator("[class*='st-key-card0']").bounding_box()
        assert graph["y"] + graph["height"] <= first_card["y"]
        assert graph["y"] < 2 * 844  # within two screens of the top, not three below the editor
        page.screenshot(path=ARTIFACTS / "page_phone.png")
    finally:
        context.close()
