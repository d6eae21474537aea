"""Check the notebooks' sliders as a learner meets them: JupyterLab in a real (headless) Chromium, every cell run,
one slider moved, the figure captured before and after.

    python tools/widgets_in_browser.py [--out widget_shots]

Needs Chromium and its driver (Debian: `apt-get install chromium chromium-driver`) and `pip install selenium`; none of
them is a dependency of lwm_nb. JupyterLab starts on a free local port with `IN_TEST=1`, so that each notebook takes its
quick path (the widgets are the same). For each notebook it writes `<notebook>_before.png` and `<notebook>_after.png`
(the widget's area), and fails if the figure did not change when the slider moved.
"""
import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# notebook -> (the slider's description, the value typed into its readout)
SLIDERS = {"04_distill.ipynb": ("T", "12"), "11_prune.ipynb": ("amount pruned", "0.9")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(port: int) -> subprocess.Popen:
    lab = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--IdentityProvider.token=",
                            "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True", "--allow-root", "--LabApp.news_url=None",
                            f"--ServerApp.root_dir={ROOT}"],
                           env={**os.environ, "IN_TEST": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1): return lab
        except OSError: time.sleep(0.5)
    lab.kill()
    raise RuntimeError("JupyterLab did not start")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"): options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def figure_of(widget) -> str:
    "The base64 source of the figure inside the widget (empty while it has none)."
    from selenium.webdriver.common.by import By
    images = widget.find_elements(By.CSS_SELECTOR, "img")
    return images[-1].get_attribute("src") if images else ""


def shoot(driver, element, path: Path):
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    time.sleep(1)
    element.screenshot(str(path))


def check(driver, port: int, notebook: str, slider: str, value: str, out: Path) -> bool:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait
    wait = WebDriverWait(driver, 600, poll_frequency=0.5)
    driver.get(f"http://127.0.0.1:{port}/lab/tree/nbs/{notebook}")
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")))
    time.sleep(3)  # the kernel starts, JupyterLab offers its news
    def idle():  # every cell has run: the notebook no longer scrolls under the camera
        time.sleep(2)
        wait.until(lambda d: d.find_elements(By.XPATH, "//*[contains(@class,'jp-StatusBar')]//*[contains(text(),'Idle')]"))
    for no in driver.find_elements(By.XPATH, "//button[normalize-space()='No']"): no.click()   # JupyterLab's offer of news
    wait.until(ready.element_to_be_clickable((By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel') and text()='Run']"))).click()
    wait.until(ready.element_to_be_clickable((By.XPATH, "//div[contains(@class,'lm-Menu-itemLabel') and text()='Run All Cells']"))).click()
    # the interact widget whose slider carries this description, once it shows a figure
    path = f"//div[contains(@class,'widget-interact')][.//label[normalize-space(text())='{slider}']]"
    widget = wait.until(lambda d: next((w for w in d.find_elements(By.XPATH, path) if figure_of(w)), None))
    idle()
    before = figure_of(widget)
    shoot(driver, widget, out / f"{Path(notebook).stem}_before.png")
    readout = widget.find_element(By.XPATH, f".//label[normalize-space(text())='{slider}']/following::div[contains(@class,'widget-readout')][1]")
    readout.click()
    readout.send_keys(Keys.CONTROL, "a")
    readout.send_keys(value, Keys.ENTER)
    WebDriverWait(driver, 600, poll_frequency=0.5).until(lambda d: figure_of(widget) not in ("", before))
    idle()
    shoot(driver, widget, out / f"{Path(notebook).stem}_after.png")
    print(f"{notebook}: {slider} set to {value}, the figure changed; screenshots in {out}")
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="widget_shots", help="folder for the screenshots (default: %(default)s)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lab = start_lab(port)
    try:
        driver = browser()
        try:
            for notebook, (slider, value) in SLIDERS.items(): check(driver, port, notebook, slider, value, out)
        finally: driver.quit()
    finally:
        lab.terminate()
        lab.wait(timeout=30)


if __name__ == "__main__":
    main()
