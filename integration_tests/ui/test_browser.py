"""The web UI driven in headless Chromium (Selenium), as a user clicks through it.

Needs Debian's ``chromium`` and ``chromium-driver`` (the ``ui`` nox session installs them).
A screenshot of each view is saved in ``$FITTRACE_UI_SCREENSHOTS`` (the nox session sets it to
``.nox/ui/tmp/screenshots``), else in the test's temporary folder.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

import fittrace
from fittrace.entities import Metric, Param

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMEDRIVER), reason="needs chromium-driver (nox -s ui installs it)"
)
TOKEN = "s3cret-token"
MLMODEL = """\
flavors:
  python_function:
    loader_module: fittrace.sklearn
signature:
  inputs: '[{"name": "sepal_length", "type": "double"}, {"name": "species", "type": "string"}]'
  outputs: '[{"type": "long"}]'
"""
LONG_VALUE = "x" * 6000  # no spaces: must not widen the page


def _png(width: int = 40, height: int = 20) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([200, 60, 60]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    if os.path.exists("/usr/bin/chromium"):
        options.binary_location = "/usr/bin/chromium"
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path: Path):
    folder = Path(os.environ.get("FITTRACE_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def save(driver: webdriver.Chrome, name: str) -> None:
        """The whole page, up to 4,000 px high."""
        height = driver.execute_script("return document.documentElement.scrollHeight")
        clip = {"x": 0, "y": 0, "width": 1280, "height": min(height, 4000), "scale": 1}
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        (folder / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))

    return save


@pytest.fixture
def ui(ui_server) -> str:
    return ui_server()


def _started(name: str, **kwargs):
    """``start_run`` in a later millisecond than the run before: newest first is by start time."""
    time.sleep(0.002)
    return fittrace.start_run(run_name=name, **kwargs)


@pytest.fixture
def content(tmp_path: Path) -> dict[str, str]:
    """A sweep (parent + 3 children with loss curves of 40, 50, 60 points), a run with a very
    long param and many params, a run with an image, a CSV and a registered model."""
    client = fittrace.MlflowClient()
    experiment_id = client.create_experiment("browser")
    fittrace.set_experiment(experiment_id=experiment_id)
    ids: dict[str, str] = {"experiment": experiment_id}
    with _started("sweep") as parent:
        for i, points in enumerate((40, 50, 60)):
            with _started(f"trial-{i}", nested=True) as child:
                fittrace.log_params({"lr": str(0.1 / (i + 1)), "layers": "3"})
                client.log_batch(
                    child.info.run_id,
                    [
                        Metric("loss", 1.0 / (s + 1 + i), 1_700_000_000_000 + s, s)
                        for s in range(points)
                    ],
                )
                fittrace.log_metric("acc", 0.8 + i / 20)
                ids[f"trial-{i}"] = child.info.run_id
                if i == 2:
                    with _started("fold-a", nested=True):
                        fittrace.log_param("fold", "a")
    ids["sweep"] = parent.info.run_id
    with _started("wide") as wide:
        client.log_batch(
            wide.info.run_id,
            params=[Param("blob", LONG_VALUE)] + [Param(f"p{i:02d}", str(i)) for i in range(60)],
        )
        fittrace.log_metric("acc", 0.5)
    ids["wide"] = wide.info.run_id
    (tmp_path / "picture.png").write_bytes(_png())
    with _started("modelled") as modelled:
        fittrace.log_metric("acc", 0.9)
        fittrace.log_artifact(str(tmp_path / "picture.png"), "plots")
        fittrace.log_text(
            "a,b\n" + "".join(f"{i},{i * i}\n" for i in range(1500)), "data/table.csv"
        )
        fittrace.log_text(MLMODEL, "model/MLmodel")
    ids["modelled"] = modelled.info.run_id
    client.create_registered_model("iris")
    client.create_model_version("iris", f"runs:/{modelled.info.run_id}/model", modelled.info.run_id)
    client.set_registered_model_alias("iris", "champion", 1)
    fittrace.flush()
    return ids


def _wait(driver, css: str):
    return WebDriverWait(driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, css))


def _ready(driver) -> bool:
    """Whether the page's script has finished setting the page up."""
    return driver.execute_script("return document.documentElement.dataset.ready === '1'")


def _wait_url(driver, part: str) -> None:
    """Until the page the last click navigated to (its URL holds ``part``) is set up."""
    WebDriverWait(driver, 10).until(lambda d: part in unquote_plus(d.current_url) and _ready(d))


def _row_names(driver) -> list[str]:
    WebDriverWait(driver, 10).until(_ready)
    cells = driver.find_elements(
        By.CSS_SELECTOR, "table.runs tbody tr:not([hidden]) td:nth-child(2) a"
    )
    return [c.text for c in cells]


def _chart(driver, title: str):
    """The drawn chart whose title is ``title``."""
    for chart in driver.find_elements(By.CSS_SELECTOR, "div.uchart[data-series]"):
        if chart.find_element(By.CSS_SELECTOR, ".u-title").text == title:
            return chart
    raise AssertionError(f"no chart {title!r}")


def _fits_viewport(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def test_runs_table_filter_sort_columns_nesting_and_compare(browser, ui, content, shots):
    browser.get(f"{ui}/experiments/{content['experiment']}")
    # children are folded under their parent; the wide run does not widen the page
    assert _row_names(browser) == ["modelled", "wide", "sweep"]
    assert _fits_viewport(browser)
    shots(browser, "01-runs")

    sweep, trial = browser.find_elements(By.CSS_SELECTOR, "button.expand")
    sweep.click()
    assert _row_names(browser) == ["modelled", "wide", "sweep", "trial-2", "trial-1", "trial-0"]
    parent_cells = browser.find_elements(By.CSS_SELECTOR, "tr.child:not([hidden]) td:nth-child(3)")
    assert [c.text for c in parent_cells] == ["sweep"] * 3
    trial.click()  # a grandchild unfolds under its own parent
    assert _row_names(browser) == [
        "modelled",
        "wide",
        "sweep",
        "trial-2",
        "fold-a",
        "trial-1",
        "trial-0",
    ]
    shots(browser, "02-runs-expanded")
    sweep.click()  # folding the parent folds the whole subtree
    assert _row_names(browser) == ["modelled", "wide", "sweep"]
    sweep.click()
    assert _row_names(browser) == ["modelled", "wide", "sweep", "trial-2", "trial-1", "trial-0"]
    assert trial.get_attribute("aria-expanded") == "false"

    box = browser.find_element(By.NAME, "filter")
    box.send_keys("metrics.acc >= 0.85")
    box.submit()
    _wait_url(browser, "filter=metrics.acc")
    assert "of 3" in browser.find_element(By.CSS_SELECTOR, "p.pager").text
    assert sorted(_row_names(browser)) == ["modelled", "trial-1", "trial-2"]

    browser.get(f"{ui}/experiments/{content['experiment']}")
    browser.find_element(By.LINK_TEXT, "metrics.acc").click()  # sort: highest first
    _wait_url(browser, "order_by=metrics.`acc` DESC")
    accs = [
        c.text
        for c in browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr td:nth-child(7)")
    ]
    shots(browser, "03-runs-sorted")
    assert accs[0] == "0.9"
    browser.find_element(By.PARTIAL_LINK_TEXT, "metrics.acc").click()  # again: lowest first
    _wait_url(browser, "order_by=metrics.`acc` ASC")

    # choose columns: only params.lr besides the name
    browser.find_element(By.CSS_SELECTOR, "details.columns summary").click()
    for box in browser.find_elements(By.CSS_SELECTOR, "details.columns input[name=col]"):
        if box.is_selected() != (box.get_attribute("value") == "params.lr"):
            box.click()
    browser.find_element(By.XPATH, "//button[text()='Show columns']").click()
    _wait_url(browser, "col=params.lr")
    headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "table.runs th")]
    assert headers[-1].startswith("params.lr") and "metrics.acc" not in headers
    assert "col=params.lr" in browser.current_url
    shots(browser, "04-runs-columns")

    # select the three trials and compare them
    browser.get(f"{ui}/experiments/{content['experiment']}")
    browser.find_element(By.CSS_SELECTOR, "button.expand").click()  # the sweep's
    for name in ("trial-0", "trial-1", "trial-2"):
        browser.find_element(By.CSS_SELECTOR, f"input[value='{content[name]}']").click()
    compare = browser.find_element(By.ID, "compare")
    assert compare.text == "Compare 3 runs"
    compare.click()
    _wait(browser, "div.uchart[data-series]")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Comparing 3 runs"
    chart = _chart(browser, "loss")
    assert chart.get_attribute("data-series") == "3"
    assert chart.get_attribute("data-points") == "60,50,40"  # in table order: newest first
    legend = chart.find_elements(By.CSS_SELECTOR, ".u-legend .u-series .u-label")
    assert [label.text for label in legend][1:] == ["trial-2", "trial-1", "trial-0"]
    assert browser.find_elements(By.CSS_SELECTOR, "table.params tr.diff")  # lr differs
    shots(browser, "05-compare")

    browser.find_element(By.ID, "log-scale").click()
    chart = _chart(browser, "loss")
    assert chart.get_attribute("data-log") == "1" and "log=1" in browser.current_url
    assert chart.find_elements(By.CSS_SELECTOR, ".u-legend .u-series")  # redrawn
    assert _fits_viewport(browser)
    shots(browser, "06-compare-log")


def test_run_page_previews_and_model_version(browser, ui, content, shots):
    browser.get(f"{ui}/runs/{content['modelled']}")
    assert _fits_viewport(browser)
    shots(browser, "07-run")
    browser.find_element(By.LINK_TEXT, "plots/").click()
    browser.find_element(By.LINK_TEXT, "picture.png").click()
    image = _wait(browser, "img.preview")
    WebDriverWait(browser, 10).until(lambda d: image.get_attribute("naturalWidth") == "40")
    shots(browser, "08-run-image")

    browser.get(f"{ui}/runs/{content['modelled']}?path=data")
    browser.find_element(By.LINK_TEXT, "table.csv").click()
    rows = _wait(browser, "table.csv").find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 1000
    assert [c.text for c in rows[3].find_elements(By.TAG_NAME, "td")] == ["3", "9"]
    shots(browser, "09-run-csv")

    browser.get(f"{ui}/runs/{content['trial-1']}?x=relative")
    chart = _chart(browser, "loss")
    assert chart.get_attribute("data-points") == "50"
    assert "Relative time" in chart.text
    shots(browser, "10-run-charts")

    browser.get(f"{ui}/runs/{content['wide']}")
    assert _fits_viewport(browser)
    shots(browser, "11-run-wide")

    browser.get(f"{ui}/models/iris")
    browser.find_element(By.LINK_TEXT, "1").click()
    signature = _wait(browser, "table.signature")
    cells = [c.text for c in signature.find_elements(By.CSS_SELECTOR, "tbody td")]
    assert cells == ["sepal_length", "double", "species", "string"]
    assert (
        'load_model("models:/iris@champion")'
        in browser.find_element(By.CSS_SELECTOR, "pre.snippet").text
    )
    assert browser.find_element(By.LINK_TEXT, "modelled")  # the source run by name
    shots(browser, "12-model-version")


def test_editing_a_description_on_a_token_server(browser, ui_server, content, shots):
    base = ui_server(writable=True, token=TOKEN)
    try:
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {TOKEN}"}}
        )
        browser.get(f"{base}/runs/{content['modelled']}")
        browser.find_element(By.CSS_SELECTOR, "details.editing summary").click()
        area = browser.find_element(By.NAME, "description")
        area.clear()
        area.send_keys("trained on iris, 3 classes")
        area.find_element(By.XPATH, "following-sibling::button").click()
        WebDriverWait(browser, 10).until(lambda d: "trained on iris" in d.page_source)
        assert fittrace.get_run(content["modelled"]).data.tags["fittrace.note.content"] == (
            "trained on iris, 3 classes"
        )
        shots(browser, "13-run-edited")
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
