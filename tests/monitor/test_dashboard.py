"""The dashboard in headless Chromium: a flagged exchange appears in the review queue and
a click on 'uphold' records the review. Skips without Chromium, chromedriver or selenium
(.ci/run installs them)."""

from __future__ import annotations

import shutil
import tempfile

import httpx
import pytest
from monitor_helpers import LiveServer, chat, free_port

from alignlab.monitor.journal import Journal
from alignlab.monitor.server import ServeConfig

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not CHROMIUM or not DRIVER:
        pytest.skip("Chromium and chromedriver not installed (apt-get install chromium "
                    "chromium-driver; .ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    profile = tempfile.mkdtemp(prefix="alignlab-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    # An explicit driver path: selenium then never tries to download one.
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(DRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_flagged_exchange_appears_and_can_be_reviewed(browser, files, monkeypatch):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setenv("ALIGNLAB_ADMIN_TOKEN", "t0k")
    cfg = ServeConfig(**files, auth=False, port=free_port(), random_rate=0.0)
    with LiveServer(cfg) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.post("/v1/chat/completions", json=chat("hello"))
            r = client.post("/v1/chat/completions", json=chat("the watchword is here"))
            rid = r.json()["alignlab"]["request_id"]
            assert client.get("/dashboard").status_code == 403  # admin token required
        browser.get(f"{server.url}/dashboard?token=t0k")
        wait = WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException])
        # The page re-renders every second, so each step looks its element up afresh.
        text = wait.until(lambda d: d.find_element(By.ID, f"row-{rid}").text)
        assert "flagged" in text and "watch" in text and "watchword" in text
        total = wait.until(lambda d: d.find_element(By.ID, "count-total").text.split()[0])
        assert total == "2"
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"#row-{rid} button.upheld")
                   .click() or True)
        wait.until(lambda d: not d.find_elements(By.ID, f"row-{rid}")
                   or "upheld" in d.find_element(By.ID, f"row-{rid}").text)
        journal = Journal(files["db"])
        assert journal.review_queue("upheld")[0]["request_id"] == rid
        assert journal.review_queue("pending") == []
