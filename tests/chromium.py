"""Headless Chromium through selenium and chromedriver, for the page tests; skips when any is absent.

Debian's packages: `apt-get install chromium chromium-driver` (.ci/run does where it can) and
`pip install selenium`. No selenium-manager download: the driver and browser are the ones on PATH.
"""

from __future__ import annotations

import io
import shutil

import pytest

WIDTH, HEIGHT = 1400, 1000


def start():
    """A headless Chromium (1400×1000) that keeps the browser console's log; pytest.skip without one."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    driver_path = shutil.which("chromedriver")
    if browser is None or driver_path is None:
        pytest.skip("headless Chromium needs `chromium` and `chromedriver` on PATH "
                    "(Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except WebDriverException as exc:
        pytest.skip(f"Chromium did not start: {str(exc).splitlines()[0]}")
    driver.set_page_load_timeout(60)
    return driver


def console_errors(driver) -> list[str]:
    """The browser console's SEVERE entries since the last call (a script error, a blocked fetch, a 404)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def png_stats(png: bytes) -> tuple[int, int, int, int]:
    """(width, height, distinct colours, pixels that are not white) of a PNG, decoded with Pillow."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    distinct = len(colours) if colours is not None else 1 << 20
    white = sum(count for count, rgb in (colours or []) if rgb == (255, 255, 255))
    return image.width, image.height, distinct, image.width * image.height - white


def element_png(driver, css: str) -> bytes:
    """A PNG of the element matching `css`, whole even where it runs past the window (Chromium's own
    DevTools call, with the element's box as the clip)."""
    import base64

    box = driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];", css)
    x, y, w, h = box
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": x, "y": y, "width": w, "height": h, "scale": 1}})
    return base64.b64decode(shot["data"])
