"""The example site in a real browser: headless Chromium driven by Selenium.

The site runs under its primary/replica settings with ``manage.py runserver`` in a
subprocess (the suite's own settings are not the example's), on a free port and a
temporary var dir. Nothing copies the primary to the replicas while it runs, so the
replicas stay stale: a review is found after the form's redirect only because
``PinningMiddleware``'s cookie sends the writer's reads to the primary.

Chromium and ChromeDriver come from Debian (``scripts/install-browser`` installs them
when missing and running as root). Without them, or without Selenium, the test is
skipped with the reason, or fails when the ``CI`` environment variable is set. Set
``MULTIDB_ROUTERS_SCREENSHOTS=1`` to refresh ``docs/_static/product-page.png``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlencode, urlsplit

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = ROOT / "example_project"
SCREENSHOT = ROOT / "docs" / "_static" / "product-page.png"
PANEL_SCREENSHOT = ROOT / "docs" / "_static" / "routing-panel.png"
PASSWORD = "browser-test-password"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,1000",
]


def in_ci() -> bool:
    """Whether the ``CI`` environment variable makes the browser test mandatory."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail under CI."""
    if in_ci():
        pytest.fail(f"The browser test is required when CI is set: {reason}", pytrace=False)
    pytest.skip(f"no browser: {reason}")


@pytest.fixture(scope="session")
def chromium() -> dict[str, str]:
    """The paths of Chromium and ChromeDriver, installed first if missing."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "install-browser")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        unavailable(result.stderr.strip())
    chromium, chromedriver = result.stdout.split()
    return {"chromium": chromium, "chromedriver": chromedriver}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Site:
    """The example site served by ``runserver`` under one pattern's settings."""

    def __init__(self, var_dir: Path, pattern: str) -> None:
        self.var_dir = var_dir
        self.folder = var_dir / pattern
        self.settings = f"example_project.settings.{pattern}"
        self.env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        self.env.update(EXAMPLE_VAR_DIR=str(var_dir), DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        self.url = ""
        self.process: subprocess.Popen[str] | None = None

    def manage(self, *args: str) -> None:
        """Run a management command of the example, failing on error."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args, f"--settings={self.settings}"],
            cwd=EXAMPLE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    def start(self) -> None:
        """Start ``runserver`` on a free port and wait until it answers."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                "--noreload",
                f"127.0.0.1:{port}",
                f"--settings={self.settings}",
            ],
            cwd=EXAMPLE_DIR,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"runserver stopped: {self.process.stderr.read()}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(self.url, timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise AssertionError("runserver did not answer within 30 s")

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    def rows(self, alias: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the SQLite file of ``alias``."""
        connection = sqlite3.connect(self.folder / f"{alias}.sqlite3")
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The example under its primary/replica settings, seeded, with an admin user."""
    served = Site(tmp_path, "replica")
    served.manage("seed", "--reviews", "200")
    served.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "a@b.test")
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def toolbar_site(tmp_path: Path) -> Iterator[Site]:
    """The example as ``make serve`` runs it: DEBUG, with django-debug-toolbar."""
    try:
        import debug_toolbar  # noqa: F401
    except ImportError:
        unavailable("django-debug-toolbar is not installed (pip install -e '.[test]')")
    served = Site(tmp_path, "replica")
    served.env["EXAMPLE_TOOLBAR"] = "1"
    served.env["EXAMPLE_DEBUG"] = "1"
    served.manage("seed", "--reviews", "20")
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def browser(chromium: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium with an empty profile, driven through Debian's ChromeDriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium["chromium"]
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromium["chromedriver"]), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def submit_and_wait(browser: Any, selector: str, path: str) -> None:
    """Click a submit button and wait for the next page, whose URL path starts with ``path``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    before = urlsplit(browser.current_url).path
    browser.find_element(By.CSS_SELECTOR, selector).click()

    def arrived(driver: Any) -> bool:
        now = urlsplit(driver.current_url).path
        return now != before and now.startswith(path)

    WebDriverWait(browser, 10).until(arrived)
    WebDriverWait(browser, 10).until(
        lambda driver: driver.execute_script("return document.readyState") == "complete"
    )


def test_review_added_in_the_browser_is_read_back_and_edited_in_the_admin(
    site: Site, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    slug = site.rows("default", "SELECT slug FROM products_product ORDER BY id LIMIT 1")[0][0]
    browser.get(f"{site.url}/products/{slug}/")
    browser.find_element(By.LINK_TEXT, "Write a review").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=rating][value='5']").click()
    browser.find_element(By.ID, "id_title").send_keys("Seen in a real browser")
    browser.find_element(By.ID, "id_body").send_keys("Read back from the primary, pinned.")
    browser.find_element(By.ID, "id_author_name").send_keys("Selenium")
    submit_and_wait(browser, "button[type=submit]", f"/products/{slug}/reviews/")

    # The redirect lands on the review's page, read from the primary thanks to the pin:
    # the replicas' files have not been copied since the seed.
    assert f"/products/{slug}/reviews/" in browser.current_url
    assert browser.find_element(By.TAG_NAME, "h1").text == "Seen in a real browser"
    pk = int(browser.current_url.rstrip("/").rsplit("/", 1)[1])
    query = "SELECT title FROM reviews_review WHERE id = ?"
    assert site.rows("reviews", query, pk) == [("Seen in a real browser",)]
    for replica in ("reviews_replica_1", "reviews_replica_2"):
        assert site.rows(replica, query, pk) == []
    assert {cookie["name"] for cookie in browser.get_cookies()} >= {"multidb_pin"}

    browser.get(f"{site.url}/products/{slug}/")
    titles = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".card h3")]
    assert titles[0] == "Seen in a real browser"
    screenshot = browser.get_screenshot_as_png()
    assert screenshot.startswith(b"\x89PNG")
    if os.environ.get("MULTIDB_ROUTERS_SCREENSHOTS") == "1":
        SCREENSHOT.write_bytes(screenshot)

    change = f"/admin/reviews/review/{pk}/change/"
    browser.get(f"{site.url}/admin/login/?{urlencode({'next': change})}")
    browser.find_element(By.ID, "id_username").send_keys("admin")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    submit_and_wait(browser, "input[type=submit]", change)
    title = browser.find_element(By.ID, "id_title")
    title.clear()
    title.send_keys("Edited in the admin")
    submit_and_wait(browser, "input[name=_save]", "/admin/reviews/review/")

    assert "was changed successfully" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    # ReviewAdmin works on the primary: the change is in its file, no replica has the row.
    assert site.rows("reviews", query, pk) == [("Edited in the admin",)]
    for replica in ("reviews_replica_1", "reviews_replica_2"):
        assert site.rows(replica, query, pk) == []
    assert (
        site.rows("default", "SELECT name FROM sqlite_master WHERE name = 'reviews_review'") == []
    )


def write_review(site: Site, browser: Any, slug: str, title: str) -> None:
    """Post a review through the product page's form; land on the review's page."""
    from selenium.webdriver.common.by import By

    browser.get(f"{site.url}/products/{slug}/")
    browser.find_element(By.LINK_TEXT, "Write a review").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=rating][value='4']").click()
    browser.find_element(By.ID, "id_title").send_keys(title)
    browser.find_element(By.ID, "id_body").send_keys("Posted to see the routing panel.")
    browser.find_element(By.ID, "id_author_name").send_keys("Selenium")
    submit_and_wait(browser, "button[type=submit]", f"/products/{slug}/reviews/")


def toolbar_root(browser: Any) -> Any:
    """Where the toolbar's elements are: its shadow root (toolbar 8) or the page (6.3)."""
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By

    try:
        host = browser.find_element(By.ID, "djDebugRoot")
    except NoSuchElementException:
        return browser
    return browser.execute_script("return arguments[0].shadowRoot", host) or browser


def test_the_routing_panel_shows_the_pinned_read_on_the_product_page(
    toolbar_site: Site, browser: Any
) -> None:
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    site = toolbar_site
    slug = site.rows("default", "SELECT slug FROM products_product ORDER BY id LIMIT 1")[0][0]
    write_review(site, browser, slug, "Seen in the routing panel")

    browser.get(f"{site.url}/products/{slug}/")
    root = toolbar_root(browser)
    button = root.find_element(By.CSS_SELECTOR, "a.RoutingPanel")
    assert "reads from replicas" in button.text
    button.click()

    def pinned_row(driver: Any) -> Any:
        try:
            row = root.find_element(By.CSS_SELECTOR, "#RoutingPanel tr.djdt-routing-pinned")
        except NoSuchElementException:
            return False
        return row if row.is_displayed() else False

    row = WebDriverWait(browser, 10).until(pinned_row)
    # The product page's read of the reviews went to the primary, for the pin cookie the
    # review's form sent back: the row says so, with its SQL.
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells[1] == "reviews (primary)"
    assert cells[2] == "read"
    assert cells[3] == "reviews.Review"
    assert cells[4].startswith("pinned by the request's pin cookie (")
    assert "reviews_review" in cells[5]
    pins_in = root.find_element(By.CSS_SELECTOR, "#RoutingPanel tr.djdt-routing-pin-in")
    assert pins_in.text.startswith("in with the request reviews ")
    counts = root.find_element(By.CSS_SELECTOR, "#RoutingPanel table.djdt-routing-counts")
    assert "reviews primary" in counts.text
    screenshot = browser.get_screenshot_as_png()
    assert screenshot.startswith(b"\x89PNG")
    if os.environ.get("MULTIDB_ROUTERS_SCREENSHOTS") == "1":
        PANEL_SCREENSHOT.write_bytes(screenshot)
