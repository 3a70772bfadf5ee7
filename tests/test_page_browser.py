"""The page of `cnncalc draw -o net.html` (render/page.page) in headless Chromium: it renders without
console errors, its screenshot is not blank, the picture keeps its own width, hovering a layer lights
its table row and the other way round, and it prints. Skipped where Chromium is absent
(tests/chromium.py).

With CNNCALC_SCREENSHOTS=DIR set, the pictures of LeNet-5, ResNet-18 and GoogLeNet are saved there as
lenet5.png, resnet18.png and googlenet.png (the README's docs/img/ pictures).
"""

from __future__ import annotations

import os

import pytest

from cnncalc import api
from cnncalc.render.page import page
from tests import chromium

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def driver():
    d = chromium.start()
    yield d
    d.quit()


def _open(driver, tmp_path, name: str, depth=None):
    report, drawing = api.drawing(os.path.join(ROOT, "specs", f"{name}.yaml"), depth=depth)
    path = tmp_path / f"{name}.html"
    path.write_text(page(report, drawing, depth), encoding="utf-8")
    chromium.console_errors(driver)  # forget what earlier pages said
    driver.get(path.as_uri())
    return report


# the README's pictures: ResNet-18 with its basic blocks folded, GoogLeNet with its inception branches in lanes
@pytest.mark.parametrize("name, depth", [("lenet5", None), ("resnet18", 2), ("googlenet", 2)])
def test_the_page_renders_without_console_errors_and_is_not_blank(driver, tmp_path, name, depth):
    _open(driver, tmp_path, name, depth)
    assert chromium.console_errors(driver) == []
    width, height, colours, ink = chromium.png_stats(driver.get_screenshot_as_png())
    assert (width, height) == (chromium.WIDTH, driver.execute_script("return window.innerHeight"))
    assert colours > 2 and ink > width * height // 100  # more than 1 % of the window is drawn on
    # the picture keeps the width its SVG asks for (no scaling on screen; the wrapper scrolls instead)
    shown, asked = driver.execute_script(
        "const s = document.querySelector('#picture svg');"
        "return [s.getBoundingClientRect().width, Number(s.getAttribute('width'))];")
    assert abs(shown - asked) < 0.5 and asked > 0
    # the whole picture, even a drawing wider than the window (its wrapper scrolls on screen)
    driver.execute_script("document.getElementById('picture').style.overflow = 'visible';")
    picture = chromium.element_png(driver, "#picture svg")
    w, h, colours, ink = chromium.png_stats(picture)
    assert w == round(asked) and colours > 2 and ink > 0
    folder = os.environ.get("CNNCALC_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{name}.png"), "wb") as f:
            f.write(picture)


def _lit(driver) -> list[tuple[str, str]]:
    return [tuple(x) for x in driver.execute_script(
        "return Array.from(document.querySelectorAll('.hl')).map(e => [e.tagName.toLowerCase(), "
        "e.getAttribute('data-row')]);")]


def _hover(driver, element):
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'});", element)
    ActionChains(driver).move_to_element(element).perform()


def _layer_target(driver, name: str):
    """The largest shape inside the layer's <g> (its centre is on the layer; the group's may be a gap)."""
    from selenium.webdriver.common.by import By

    group = driver.find_element(By.CSS_SELECTOR, f'g.layer[data-row="{name}"]')
    return driver.execute_script(
        "const shapes = Array.from(arguments[0].querySelectorAll('rect, polygon, path, ellipse, circle'));"
        "if (!shapes.length) return arguments[0];"
        "const area = e => { const r = e.getBoundingClientRect(); return r.width * r.height; };"
        "return shapes.reduce((a, b) => area(b) > area(a) ? b : a);", group)


@pytest.mark.parametrize("name,depth,first,second", [("lenet5", None, "conv2", "dense1"),
                                                     ("resnet18", 1, "layer2", "fc")])
def test_hovering_a_layer_lights_its_row_and_a_row_lights_its_layer(driver, tmp_path, name, depth, first, second):
    from selenium.webdriver.common.by import By

    _open(driver, tmp_path, name, depth)
    _hover(driver, _layer_target(driver, first))
    assert sorted(_lit(driver)) == [("g", first), ("tr", first)]
    _hover(driver, driver.find_element(By.CSS_SELECTOR, f'tr[data-row="{second}"]'))
    assert sorted(_lit(driver)) == [("g", second), ("tr", second)]
    # a lit row looks different: its cells take the highlight colour
    colour = driver.execute_script(
        f"return getComputedStyle(document.querySelector('tr[data-row=\"{second}\"] td')).backgroundColor;")
    plain = driver.execute_script(
        f"return getComputedStyle(document.querySelector('tr[data-row=\"{first}\"] td')).backgroundColor;")
    assert colour != plain
    assert chromium.console_errors(driver) == []


def test_it_prints_with_the_picture_fitted_to_the_page(driver, tmp_path):
    import base64

    _open(driver, tmp_path, "googlenet", 1)
    pdf = base64.b64decode(driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"])
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        fitted = driver.execute_script(
            "const s = document.querySelector('#picture svg');"
            "return [getComputedStyle(s).maxWidth, getComputedStyle(document.getElementById('error')).display];")
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert fitted == ["100%", "none"]
