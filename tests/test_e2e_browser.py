"""End to end in a real browser: `streamlit run app.py` on a free port, driven by
Playwright through Debian's Chromium. An admin signs in, creates a knowledge base,
uploads a generated PDF; a user asks a question, watches the answer stream in with a
cited page, then switches on compare and gets three answers. Screenshots go to
tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.config import Settings
from tests.fixtures import install_adapter, write_contract_pdf

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PASSWORD = "e2e admin password"
TIMEOUT_MS = 180_000
# The stream is over when the status widget is gone and the answer has not changed for this
# long: the widget can be missing for a moment between two chunks of the stream.
SETTLED_S = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, smollm2_adapter):
    """The real app in its own process on a fresh data folder (with one trained adapter)."""
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it with apt (see the Makefile)"
    root = tmp_path_factory.mktemp("e2e")
    install_adapter(Settings(data_dir=root / "data"), smollm2_adapter)
    port = free_port()
    env = {**os.environ, "DOCENT_DATA_DIR": str(root / "data"), "DOCENT_ADMIN_PASSWORD": PASSWORD}
    log = (root / "streamlit.log").open("w")
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               "--server.address", "127.0.0.1", "--server.headless", "true"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the app did not start: {(root / 'streamlit.log').read_text()[-2000:]}")
        yield url, root, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        assert PASSWORD not in (root / "streamlit.log").read_text()  # never logged


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def ask(page, question: str) -> list[str]:
    """Type a question, and sample the newest answer's text while it streams."""
    box = page.get_by_placeholder("Ask about the documents")
    box.fill(question)
    box.press("Enter")
    seen: list[str] = []
    deadline = time.time() + TIMEOUT_MS / 1000
    changed = time.time()
    while time.time() < deadline:
        messages = page.locator('[data-testid="stChatMessage"]')
        if messages.count() and (text := messages.last.inner_text()) and text != (seen[-1] if seen else None):
            seen.append(text)
            changed = time.time()
        settled = time.time() - changed > SETTLED_S
        if page.locator('[data-testid="stStatusWidget"]').count() == 0 and len(seen) > 1 and settled:
            break
        time.sleep(0.05)
    return seen


def test_admin_uploads_and_user_chats_in_a_real_browser(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, root, start_seconds = app_url
    pdf = write_contract_pdf(tmp_path / "supply_contract.pdf")
    timings = {"server_start_s": round(start_seconds, 2)}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        try:
            run_the_story(page, pdf, url, timings)
        except Exception:
            shot(page, "failure")  # what the browser showed when it went wrong
            raise
        browser.close()
    (ARTIFACTS / "e2e_timings.json").write_text(json.dumps(timings, indent=2))


def run_the_story(page, pdf: Path, url: str, timings: dict[str, float]) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_text("There is no knowledge base yet")).to_be_visible()
    shot(page, "01-first-run")

    # The admin signs in, creates a knowledge base and uploads a PDF.
    page.get_by_role("link", name="Go to Knowledge bases").click()  # the first-run hint links there
    expect(page.get_by_text("Admin sign-in")).to_be_visible()
    page.get_by_label("Admin password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong password")).to_be_visible()
    page.get_by_label("Admin password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Create a knowledge base")).to_be_visible()
    page.get_by_placeholder("legal, medical").fill("contracts")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Created knowledge base 'contracts'")).to_be_visible()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(pdf))
    page.get_by_role("button", name="Add 1 file(s) to 'contracts'").click()
    expect(page.get_by_text("Done: 1 ok, 0 failed")).to_be_visible()
    expect(page.get_by_text("supply_contract.pdf").first).to_be_visible()
    page.wait_for_timeout(1500)  # tables are drawn on a canvas a moment after they arrive
    shot(page, "02-admin-uploaded")

    # A user asks; the answer streams in, then shows its cited page.
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Chat").click()
    started = time.perf_counter()
    states = ask(page, "How long does the agreement last?")
    expect(page.get_by_text("supply_contract.pdf, page 2").first).to_be_visible()
    timings["first_answer_s"] = round(time.perf_counter() - started, 2)
    assert len([s for s in states if s.strip()]) >= 3, f"the answer did not stream: {states}"
    assert "7" in states[-1] or "seven" in states[-1]
    shot(page, "03-chat-answer")

    # Compare: one question, three modes side by side.
    page.get_by_text("Compare modes").click()
    started = time.perf_counter()
    ask(page, "What is the unit price of one box of gloves?")
    expect(page.get_by_role("button", name="Best answer")).to_have_count(3)
    timings["compare_s"] = round(time.perf_counter() - started, 2)
    last = page.locator('[data-testid="stChatMessage"]').last
    for label in ("RAG", "Fine-tuned", "Hybrid"):
        expect(last.get_by_role("heading", name=label)).to_be_visible()
    shot(page, "04-compare")
    page.get_by_role("button", name="Best answer").nth(2).click()
    expect(page.get_by_text("Marked as the best answer")).to_be_visible()
    shot(page, "05-best-marked")
