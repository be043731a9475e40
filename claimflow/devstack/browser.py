"""Headless Chromium from Debian's packages, driven by Selenium through chromium-driver.

scripts/bootstrap installs ``chromium`` and ``chromium-driver``. Each browser gets a fresh
profile directory and no background traffic (no sync, updates or QUIC), at 1280x800.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

__all__ = ["CHROMEDRIVER", "CHROMIUM", "headless_chromium", "viewport"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def headless_chromium(profile: Path, *, width: int = 1280, height: int = 800) -> webdriver.Chrome:
    """A headless Chromium with a fresh profile in ``profile``; the caller quits it."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        raise RuntimeError("chromium and chromium-driver are missing; run scripts/bootstrap")
    shutil.rmtree(profile, ignore_errors=True)
    profile.mkdir(parents=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    viewport(driver, width, height)
    return driver


def viewport(driver: webdriver.Chrome, width: int = 1280, height: int = 800) -> None:
    """Make the page area exactly ``width`` x ``height`` (the window adds its own frame)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
