"""The module pages and Buildbot's UI in a real headless Chromium (Selenium), against an
in-process master that builds a module and a failing one: our pages load without
console errors, the list shows the module, the build page has its DAG picture, the
search filters as you type, Buildbot's waterfall shows the module build's virtual
builder and the "Modules" menu entry frames the pages.

Screenshots of every page go to ``$BBMOD_SCREENSHOTS`` (default: ``screenshots/`` in
trial's temporary folder); the path is printed. Needs Debian's ``chromium`` and
``chromium-driver`` (``make setup``) and ``selenium``; skipped without them.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, threads
from twisted.trial import unittest

from buildbot_modules.registry import Registry

from .test_module_build import start_site
from .test_pages import FAILING, GOOD, push_modules, wait_finished
from .test_pipeline import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _skip_reason() -> str | None:
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "needs chromium and chromedriver (Debian: chromium chromium-driver; make setup)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install -c constraints.txt -e .[dev])"
    return None


class Browser:
    """A headless Chromium; every call blocks (run it in a thread)."""

    def __init__(self, url: str, screenshots: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        # Root in a container: no sandbox; /dev/shm is small.
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
            options.add_argument(arg)
        options.add_argument("--window-size=1280,900")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        self.driver.set_page_load_timeout(30)
        self.url = url
        self.screenshots = screenshots

    def open(self, path: str) -> None:
        self.driver.get(self.url + path)

    def wait_for(self, predicate: Any, seconds: float = 20) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, seconds, poll_frequency=0.2).until(predicate)

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def errors(self) -> list[str]:
        """Console errors since the last call (reading the log empties it)."""
        return [
            str(entry["message"])
            for entry in self.driver.get_log("browser")
            if entry.get("level") == "SEVERE"
        ]

    def screenshot(self, name: str) -> str:
        height = self.driver.execute_script(
            "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
        )
        self.driver.set_window_size(1280, min(max(900, int(height) + 40), 4000))
        path = os.path.join(self.screenshots, f"{name}.png")
        self.driver.save_screenshot(path)
        self.driver.set_window_size(1280, 900)
        return path

    def quit(self) -> None:
        self.driver.quit()


class BrowserInProcess(RunMasterBase):
    proto = "pb"
    timeout = 240

    def setUp(self) -> None:
        reason = _skip_reason()
        if reason:
            raise unittest.SkipTest(reason)

    @defer.inlineCallbacks
    def test_pages_in_chromium(self) -> None:
        started = time.monotonic()
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        settings = yield start_site(
            self,
            www_port=f"tcp:{port}:interface=127.0.0.1",
            url=url,
            users={"rel": "relpw"},
            releng=["rel"],
        )
        registry = Registry(settings.registry_url)
        push_modules(settings, self, {"pgood": GOOD, "pfail": FAILING})
        good = yield wait_finished(self, registry, "pgood")
        failed = yield wait_finished(self, registry, "pfail")
        self.assertEqual((good.state, failed.state), ("ready", "failed"))

        screenshots = os.path.abspath(os.environ.get("BBMOD_SCREENSHOTS") or "screenshots")
        os.makedirs(screenshots, exist_ok=True)
        print(f"\nscreenshots: {screenshots}")
        report = yield threads.deferToThread(  # type: ignore[no-untyped-call]
            self.browse, url, screenshots, good.id, failed.id
        )
        for line in report:
            print(line)
        self.assertLess(time.monotonic() - started, 90)

    def browse(self, url: str, screenshots: str, good_id: int, failed_id: int) -> list[str]:
        """Every check that needs the browser; returns notes to print."""
        from selenium.webdriver.common.by import By

        browser = Browser(url, screenshots)
        notes = []
        try:
            # Our pages: loaded, no console error of their own.
            ours = {
                "modules-list": "modules/",
                "module-build": f"modules/build/{good_id}",
                "module-build-failed": f"modules/build/{failed_id}",
                "module-stack": "modules/stack/pgood:main",
                "module-stream": "modules/stream/pgood:main",
            }
            for name, path in ours.items():
                browser.open(path)
                browser.wait_for(
                    lambda d: d.execute_script("return document.readyState") == "complete"
                )
                self.assertEqual(browser.errors(), [], f"console errors on {path}")
                notes.append(f"  {browser.screenshot(name)}")
                if name == "modules-list":
                    self.assertIn("pgood:main", browser.text())
                    self.assertIn("pfail:main", browser.text())
                    # The filter hides rows as you type.
                    browser.driver.find_element(By.ID, "q").send_keys("pfail")
                    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#streams tbody tr")
                    shown = [r.text.split()[0] for r in rows if r.is_displayed()]
                    self.assertEqual(shown, ["pfail:main"])
                if name.startswith("module-build"):
                    dag = browser.driver.find_element(By.CSS_SELECTOR, "#dag svg")
                    self.assertTrue(dag.is_displayed())
                    self.assertGreater(dag.size["width"], 50)
                    nodes = browser.driver.find_elements(By.CSS_SELECTOR, "#dag g.node")
                    self.assertEqual(len(nodes), 2 if name == "module-build" else 3)

            # Buildbot's waterfall shows the module build as the virtual builder.
            browser.open("#/waterfall")
            browser.wait_for(lambda d: "module pgood:main" in browser.text())
            self.assertIn("components pgood:main", browser.text())
            notes.append(f"  {browser.screenshot('buildbot-waterfall')}")
            bundle = browser.errors()
            if bundle:  # Buildbot's own UI: reported, not ours to fix
                notes.append(f"  Buildbot UI console errors (not asserted): {bundle}")

            # "Modules" in Buildbot's menu frames our list.
            browser.open("#/modules")
            frame = browser.wait_for(
                lambda d: d.find_element(By.CSS_SELECTOR, "iframe[title=Modules]")
            )
            browser.driver.switch_to.frame(frame)
            browser.wait_for(lambda d: "pgood:main" in browser.text())
            browser.driver.switch_to.default_content()
            notes.append(f"  {browser.screenshot('buildbot-menu-modules')}")

            # A release engineer logged in to Buildbot gets the stream's edit form.
            browser.driver.get(url.replace("http://", "http://rel:relpw@") + "auth/login")
            browser.errors()  # login lands on Buildbot's UI: its messages, reported above
            browser.open("modules/stream/pgood:main")
            browser.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, "input[name=eol]"))
            self.assertIn("Edit (as rel)", browser.text())
            self.assertEqual(browser.errors(), [], "console errors on the stream page (releng)")
            notes.append(f"  {browser.screenshot('module-stream-releng')}")
        finally:
            browser.quit()
        return notes
