"""Time from `make run` to the first answer on a fresh data folder, in a real browser.

Starts `make run` with an empty DOCENT_DATA_DIR and DOCENT_MODELS_DIR (so SmolLM2 is
converted from its GGUF as a new user's first start does), then with Playwright and
Debian's Chromium: open the app, create a knowledge base, upload a generated PDF, ask
one question and wait for the cited answer. Prints a table, writes
benchmarks/results/first_run.json.

    .venv/bin/python -m benchmarks.first_run [--port 8599]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.common import Run, markdown_table
from tests.fixtures import write_contract_pdf

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8599)
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    work = Path(tempfile.mkdtemp(prefix="docent-first-run-"))
    pdf = write_contract_pdf(work / "supply_contract.pdf")
    env = {**os.environ, "DOCENT_DATA_DIR": str(work / "data"), "DOCENT_MODELS_DIR": str(work / "data" / "models"),
           "PORT": str(args.port)}
    env.pop("DOCENT_ADMIN_PASSWORD", None)
    url = f"http://127.0.0.1:{args.port}"
    marks: dict[str, float] = {}
    run = Run("first_run", {"port": args.port, "data_dir": "fresh temporary folder"})
    started = time.perf_counter()
    server = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=(work / "run.log").open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        marks["server ready"] = time.perf_counter() - started
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page()
            page.set_default_timeout(600_000)
            expect.set_options(timeout=600_000)
            page.goto(url)
            expect(page.get_by_text("There is no knowledge base yet")).to_be_visible()
            marks["first page shown"] = time.perf_counter() - started
            page.get_by_role("link", name="Go to Knowledge bases").click()
            page.get_by_placeholder("legal, medical").fill("default")
            page.get_by_role("button", name="Create").click()
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(pdf))
            page.get_by_role("button", name="Add 1 file(s) to 'default'").click()
            expect(page.get_by_text("Done: 1 ok, 0 failed")).to_be_visible()
            marks["document ingested"] = time.perf_counter() - started
            page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Chat").click()
            box = page.get_by_placeholder("Ask about the documents")
            expect(box).to_be_visible()
            marks["chat ready (models loaded; SmolLM2 converted from GGUF)"] = time.perf_counter() - started
            box.fill("How long does the agreement last?")
            asked = time.perf_counter()
            box.press("Enter")
            expect(page.get_by_text("supply_contract.pdf, page 2").first).to_be_visible()
            marks["first answer"] = time.perf_counter() - started
            marks["question to cited answer"] = time.perf_counter() - asked
            browser.close()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)  # its converted model alone is ~0.5 GB
    rows = [[step, round(seconds, 1)] for step, seconds in marks.items()]
    run.finish({"steps": [{"step": step, "seconds": seconds} for step, seconds in rows],
                "notes": ["browser steps (typing, clicks) are included; the .venv was already set up"]},
               [markdown_table(["step (from `make run`, fresh data folder)", "seconds"], rows)])

if __name__ == "__main__":
    main()
