"""The page at GET / of `nnkeras serve`, in a real headless Chromium against a real server process.

Needs Debian's chromium and chromium-driver (`make test` installs them when missing, as root).
"""

from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pytest

from test_serve import call, start_server

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM and CHROMEDRIVER, ("the browser tests need chromium and chromedriver:"
                                       " `make test` installs them as root, or apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-")
    # As root Chromium needs --no-sandbox; the rest keeps it from calling home (the network is closed).
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=900,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def digit_server(tmp_path_factory):
    from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
    from nnkeras.training import train

    experiment = Experiment("mnist_mlp", data=DataConfig(name="mnist_sample"), seed=0,
                            model=ModelConfig("mlp", {"hidden": (30,)}), train=TrainConfig(epochs=5, batch_size=64))
    run_dir = train(experiment, tmp_path_factory.mktemp("digits") / "run").run_dir
    process, url = start_server(str(run_dir))
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def titanic_server(tmp_path_factory):
    from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
    from nnkeras.training import train

    experiment = Experiment("titanic_wide_deep", data=DataConfig(name="titanic"), seed=0,
                            model=ModelConfig("wide_deep", {"hidden": (16,), "embed_dim": 4}),
                            train=TrainConfig(epochs=15, batch_size=32, learning_rate=1e-2))
    run_dir = train(experiment, tmp_path_factory.mktemp("titanic") / "run").run_dir
    process, url = start_server(str(run_dir))
    yield url
    process.terminate()
    process.wait(timeout=30)


def open_page(browser, url: str):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/")
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.body.dataset.ready") == "true")


def forget_answer(browser) -> None:
    """Blank the answer shown, so the next one read is the next request's."""
    browser.execute_script("document.getElementById('top').textContent = ''")


def answer_on_page(browser) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "top").text not in ("", "..."))
    return browser.find_element(By.ID, "top").text


def confident_test_digits(url: str, count: int):
    """Real test digits (raw pixels, label) the served model gets right with probability > 0.9."""
    import json

    from nnkeras import data
    from nnkeras.config import DataConfig

    raw = data.DATASETS["mnist_sample"](DataConfig(name="mnist_sample"))
    x, y = raw.x_test[:200], raw.y_test[:200]
    _, answer = call(url, "/predict", json.dumps({"instances": x.tolist()}).encode())
    sure = [i for i, p in enumerate(answer["predictions"]) if p["class"] == y[i] and max(p["probabilities"]) > 0.9]
    return [(x[i].reshape(28, 28).astype(np.uint8), int(y[i])) for i in sure[:count]]


def test_an_uploaded_digit_is_read_off_the_page(browser, digit_server, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    open_page(browser, digit_server)
    assert browser.find_element(By.ID, "title").text == "mnist_mlp (mlp)"
    for pixels, label in confident_test_digits(digit_server, 3):
        picture = tmp_path / f"digit_{label}.png"
        # A bigger picture than the model takes: the page scales it down to 28x28 grayscale itself.
        Image.fromarray(pixels).convert("RGB").resize((112, 112), Image.NEAREST).save(picture)
        forget_answer(browser)
        browser.find_element(By.ID, "file").send_keys(str(picture))
        assert answer_on_page(browser) == str(label)
        sent = np.array(browser.execute_script("return window.lastInstance"))
        assert sent.shape == (28, 28, 1) and np.abs(sent[..., 0] - pixels.astype(int)).max() <= 1
        browser.find_element(By.ID, "file").clear()
    rows = browser.find_elements(By.CSS_SELECTOR, "#classes tr.class")
    assert len(rows) == 5 and rows[0].text.split()[0] == str(label)  # top five, best first, with percentages
    browser.save_screenshot(str(tmp_path / "page_digit.png"))


def test_a_digit_drawn_on_the_canvas_is_predicted(browser, digit_server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    open_page(browser, digit_server)
    pad = browser.find_element(By.ID, "pad")
    # A "1": one stroke down the middle of the 280x280 pad (offsets from its centre).
    ActionChains(browser).move_to_element_with_offset(pad, 0, -100).click_and_hold() \
        .move_by_offset(0, 50).move_by_offset(0, 50).move_by_offset(0, 50).move_by_offset(0, 50).release().perform()
    assert answer_on_page(browser) == "1"
    sent = np.array(browser.execute_script("return window.lastInstance"))[..., 0]
    # Scaled down like MNIST: the stroke fills the middle 20 rows and is centred, the border stays black.
    assert sent.max() > 200 and sent[:3].max() == 0 and sent[-3:].max() == 0
    assert abs(np.nonzero(sent.max(axis=0))[0].mean() - 13.5) < 2


def test_a_titanic_row_from_the_form(browser, titanic_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, titanic_server)
    form = browser.find_element(By.ID, "row")
    assert [s.get_attribute("name") for s in form.find_elements(By.TAG_NAME, "select")] == ["Pclass", "Sex"]
    assert [i.get_attribute("name") for i in form.find_elements(By.TAG_NAME, "input")] == ["Age", "SibSp", "Parch"]
    cases = [({"Pclass": "1", "Sex": "female"}, {"Age": "30"}, "survived"),
             ({"Pclass": "3", "Sex": "male"}, {"Age": "40"}, "died")]
    for choices, numbers, expected in cases:
        for column, value in choices.items():
            Select(form.find_element(By.NAME, column)).select_by_value(value)
        for column, value in numbers.items():
            field = form.find_element(By.NAME, column)
            field.clear()
            field.send_keys(value)
        forget_answer(browser)
        browser.find_element(By.ID, "predict-row").click()
        assert answer_on_page(browser) == expected
        sent = browser.execute_script("return window.lastInstance")
        assert sent["SibSp"] is None and sent["Parch"] is None  # empty fields go as missing values
    browser.save_screenshot(str(tmp_path / "page_titanic.png"))
