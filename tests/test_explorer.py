"""python -m gemini_np explore: the classroom page, tested in a real (headless) Chromium.

One page is written by the real command and opened once per module in Debian's Chromium,
driven by Playwright, with every non-file request aborted. The page's JavaScript must give
gemini_np's numbers to 1e-12 through its pinned hook, window.gnpExplorer.set / .state.
Where no browser can be started, the browser tests skip with a one-line reason.
"""
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gemini_np as gnp
from gemini_np.explorer import build_page
from gemini_np.explorer.browser import VIEWPORT, BrowserUnavailable, block_network, launch, start_playwright
from gemini_np.explorer.font import cjk_characters

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
TOL = dict(rtol=1e-12, atol=1e-12)


def run_cli(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "gemini_np", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


def assert_one_line_error(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The page, written by the real command (a small model is trained on the way)."""
    out = tmp_path_factory.mktemp("explore") / "page.html"
    proc = run_cli("explore", "--out", str(out))
    return out, proc


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the whole module."""
    try:
        playwright = start_playwright()
    except BrowserUnavailable as exc:
        pytest.skip(f"no browser for the explorer tests: {exc}")
    try:
        chromium = launch(playwright)
    except BrowserUnavailable as exc:
        playwright.stop()
        pytest.skip(f"no browser for the explorer tests: {exc}")
    yield chromium
    chromium.close()
    playwright.stop()


class Opened:
    """A page opened from disk with the network blocked, and what it reported."""

    def __init__(self, browser, path):
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.requests = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.blocked = block_network(self.page)
        self.page.goto(Path(path).resolve().as_uri())
        self.page.wait_for_function("window.gnpExplorer !== undefined")

    def js(self, expression, arg=None):
        return self.page.evaluate(expression, arg)

    def close(self):
        self.context.close()


@pytest.fixture
def opened(browser, written):
    out, proc = written
    assert proc.returncode == 0, proc.stderr
    page = Opened(browser, out)
    yield page
    assert page.errors == [], page.errors  # nothing went wrong in the page during the test
    page.close()


# ----------------------------------------------------------------------------- the command


def test_cli_writes_one_small_page_and_prints_its_path(written):
    out, proc = written
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert str(out) in proc.stdout
    text = out.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) < 2_000_000  # small enough to email
    assert "window.gnpExplorer" in text
    # no way to fetch anything: no external script, style, image or font reference, and a policy that forbids it
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text)
    assert "@import" not in text
    assert "default-src 'none'" in text
    assert not list(out.parent.glob(".page.html.*"))  # the atomic write left no temporary file


def test_cli_embeds_exactly_the_chinese_glyphs_the_page_uses(written):
    out, _ = written
    from fontTools.ttLib import TTFont
    import base64
    import io

    text = out.read_text(encoding="utf-8")
    match = re.search(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", text)
    if match is None:
        pytest.skip("no CJK font is installed here, so none was embedded")
    font = TTFont(io.BytesIO(base64.b64decode(match.group(1))))
    covered = {chr(c) for c in font.getBestCmap()}
    without_font = text.replace(match.group(0), "")
    assert cjk_characters(without_font) == cjk_characters("".join(covered))
    assert "License" in text or "license" in text  # the font's license notice travels with it


#: A folder nobody may create files in, not even root (sysfs refuses new files).
UNWRITABLE = Path("/sys/gemini_np_no_such_folder")


def bad_arguments(tmp_path):
    """(what, argv, words the one-line error must contain) for every mistake explore can meet."""
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "not_a_checkpoint.npz").write_text("hello")
    good_out = str(tmp_path / "page.html")
    return [
        ("unknown language", ["--out", good_out, "--lang", "fr"], "--lang"),
        ("out is a folder", ["--out", str(tmp_path / "a_folder")], "is a folder"),
        ("out's parent is a file", ["--out", str(tmp_path / "a_file" / "page.html")], "a_file"),
        ("out's grandparent is a file", ["--out", str(tmp_path / "a_file" / "sub" / "page.html")], "a_file"),
        ("out in an unwritable place", ["--out", str(UNWRITABLE / "page.html")], "cannot write"),
        ("no such checkpoint", ["--out", good_out, "--checkpoint", str(tmp_path / "missing.npz")], "no checkpoint"),
        ("not a checkpoint", ["--out", good_out, "--checkpoint", str(tmp_path / "not_a_checkpoint.npz")], "checkpoint"),
        ("unknown flag", ["--out", good_out, "--colour", "red"], "--colour"),
    ]


def test_cli_rejects_every_mistake_in_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    """Bad flags, paths and checkpoints: one `error:` line, status 2, nothing trained, nothing written."""
    import gemini_np.train
    from gemini_np import cli

    def refuse(*args, **kwargs):
        raise AssertionError("training started although an argument was bad")

    monkeypatch.setattr(gemini_np.train, "train", refuse)
    for what, argv, needle in bad_arguments(tmp_path):
        before = sorted(tmp_path.rglob("*"))
        status = cli.main(["explore", *argv])
        err = capsys.readouterr().err
        assert status == cli.EXIT_USAGE, what
        assert_one_line_error(err)
        assert needle in err, (what, err)
        assert sorted(tmp_path.rglob("*")) == before, f"{what}: something was written"


def test_the_real_command_reports_a_bad_language_in_one_line(tmp_path):
    proc = run_cli("explore", "--out", str(tmp_path / "page.html"), "--lang", "fr")
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr)
    assert not (tmp_path / "page.html").exists()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A checkpoint of a tiny model (d_model 16), trained for one epoch."""
    from gemini_np.checkpoint import save_checkpoint
    from gemini_np.cli import checkpoint_extra
    from gemini_np.model import ModelConfig
    from gemini_np.train import TrainConfig, train

    result = train(TrainConfig(samples=48, epochs=1, batch_size=16, model=ModelConfig(d_model=16, d_ff=16)),
                   progress=False)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.npz", result.model, checkpoint_extra(result))


def page_data_of(path):
    text = Path(path).read_text(encoding="utf-8")
    return json.loads(re.search(r'<script type="application/json" id="gnp-data">(.*?)</script>', text, re.S).group(1))


def test_page_from_a_checkpoint_without_a_cjk_font(tmp_path, monkeypatch, capsys, tiny_checkpoint):
    """--checkpoint: the image and fusion views show that model; no CJK font: one note, a working page."""
    from gemini_np.__main__ import main

    monkeypatch.setenv("GEMINI_NP_CJK_FONT", "none")
    out = tmp_path / "page.html"
    assert main(["explore", "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--lang", "en"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("note: no Chinese font") and len(printed) == 2
    text = out.read_text(encoding="utf-8")
    assert "@font-face" not in text
    data = page_data_of(out)
    assert data["model"]["source"] == "checkpoint" and data["model"]["file"] == "m.npz"
    assert data["model"]["d_model"] == 16
    assert '<body data-lang="en">' in text


def test_the_page_is_numpy_whatever_the_backend_variable_says(tmp_path, tiny_checkpoint):
    """explore computes with NumPy: a GEMINI_NP_BACKEND the other commands would refuse does not matter."""
    out = tmp_path / "page.html"
    proc = run_cli("explore", "--out", str(out), "--checkpoint", str(tiny_checkpoint),
                   env={"GEMINI_NP_BACKEND": "tpu", "GEMINI_NP_CJK_FONT": "none"})
    assert proc.returncode == 0, proc.stderr
    assert page_data_of(out)["model"]["source"] == "checkpoint"


def test_build_page_rejects_an_unknown_language():
    with pytest.raises(ValueError, match="lang"):
        build_page(lang="fr")


# ----------------------------------------------------------------------------- loading offline


def test_page_loads_offline_with_no_request_and_no_error(opened):
    assert opened.blocked == []  # nothing but the file itself was even attempted
    assert all(url.startswith("file:") for url in opened.requests), opened.requests
    assert len(opened.requests) == 1
    for view in ("image", "fusion", "online", "steps"):  # every view draws without a request or an error
        opened.page.click(f".tab[data-view={view}]")
        assert opened.page.is_visible(f"#view-{view}")
    assert opened.blocked == [] and len(opened.requests) == 1
    assert opened.js("typeof gnpExplorer.set") == "function" and opened.js("typeof gnpExplorer.state") == "function"


def test_page_opens_in_the_language_it_was_written_for(opened):
    assert opened.js("document.body.dataset.lang") == "zh"
    assert opened.js("document.documentElement.lang") == "zh-Hans"
    assert CJK.search(opened.page.inner_text("#step-title"))


def test_the_default_preset_matches_the_numpy_numbers_written_into_the_page(opened):
    """The page compares its JavaScript with NumPy's numbers for the article's example; so do we."""
    h = np.eye(3, 5)
    out, cache = gnp.attention_forward(h, h, h)
    dout = np.array(opened.js("JSON.parse(document.getElementById('gnp-data').textContent).presets[0].inputs.dout"), dtype=np.float64)
    assert np.count_nonzero(dout) == 2  # the worked example's story: two rows ask for something
    dq, dk, dv = gnp.attention_backward(dout, cache)
    got = opened.js("gnpExplorer.state()")
    for name, want in (("weights", cache.weights), ("out", out), ("dq", dq), ("dk", dk), ("dv", dv)):
        np.testing.assert_allclose(np.array(got[name]), want, **TOL, err_msg=name)
    np.testing.assert_allclose(np.array(got["weights"])[0], [0.4388246341683851, 0.2805876829158074, 0.2805876829158074], rtol=1e-15)
    check = opened.js("[document.getElementById('numpy-check').dataset.i18n, document.getElementById('numpy-check').dataset.i18nParams]")
    assert check[0] == "numpy_same"
    assert float(json.loads(check[1])["d"].replace("−", "-")) <= 1e-12  # the page's own check, as shown


# ----------------------------------------------------------------------------- stepping


def step_position(opened):
    counter = opened.page.inner_text("#step-counter")
    i, n = (int(x) for x in re.findall(r"\d+", counter))
    current = opened.js("Number(document.querySelector('#formula-list li.current').dataset.step)")
    assert current == i - 1  # the formula sheet highlights the same step
    return i, n


def test_every_step_by_keyboard_forward_and_back(opened):
    i, n = step_position(opened)
    assert (i, n) == (1, 15)  # 3 queries: inputs, Q Kᵀ, scale, 3 softmax rows, P, O; dO, dV, dP, r, dS, dQ, dK
    seen = []
    for expected in range(1, n + 1):
        assert step_position(opened) == (expected, n)
        stage = opened.page.locator("#stage")
        assert stage.locator(".card.write").count() >= 1  # each step writes something ...
        assert opened.page.inner_text("#step-formula").strip()  # ... under its formula
        seen.append(opened.js("document.getElementById('stage').dataset.step"))
        opened.page.keyboard.press("ArrowRight")
    assert step_position(opened) == (n, n)  # the last step stays the last
    assert seen == ["inputs", "qk", "scale", "row", "row", "row", "p", "o", "dout", "dv", "dp", "r", "ds", "dq", "dk"]
    for expected in range(n, 0, -1):
        assert step_position(opened) == (expected, n)
        opened.page.keyboard.press("ArrowLeft")
    assert step_position(opened) == (1, n)
    opened.page.keyboard.press("End")
    assert step_position(opened) == (n, n)
    opened.page.keyboard.press("Home")
    assert step_position(opened) == (1, n)


def test_every_step_by_buttons(opened):
    _, n = step_position(opened)
    assert opened.page.is_disabled("#prev-step")
    for expected in range(2, n + 1):
        opened.page.click("#next-step")
        assert step_position(opened) == (expected, n)
    assert opened.page.is_disabled("#next-step")
    for expected in range(n - 1, 0, -1):
        opened.page.click("#prev-step")
        assert step_position(opened) == (expected, n)
    opened.page.click("#formula-list li[data-step='12']")  # the formula sheet jumps too
    assert step_position(opened) == (13, n)
    assert opened.js("document.getElementById('stage').dataset.step") == "ds"


def test_each_step_highlights_what_it_reads_and_writes(opened):
    expected = {"qk": ({"Q", "Kᵀ"}, {"QKᵀ"}), "o": ({"P", "V"}, {"O"}), "dv": ({"Pᵀ", "dO"}, {"dV"}),
                "r": ({"dO", "O"}, {"r"}), "ds": ({"P", "dP", "r"}, {"dS"}), "dk": ({"dSᵀ", "Q"}, {"dK"})}
    found = {}
    _, n = step_position(opened)
    for _ in range(n):
        step = opened.js("document.getElementById('stage').dataset.step")
        reads = set(opened.js("[...document.querySelectorAll('#stage .card.read')].map(c => c.dataset.name)"))
        writes = set(opened.js("[...document.querySelectorAll('#stage .card.write')].map(c => c.dataset.name)"))
        found[step] = (reads, writes)
        opened.page.keyboard.press("ArrowRight")
    for step, want in expected.items():
        assert found[step] == want, step


# ----------------------------------------------------------------------------- the numbers: set / state


def random_case(rng, n_q, n_k, d_k, d_v, masked=False, extreme=False, scale=None):
    q, k = rng.standard_normal((n_q, d_k)), rng.standard_normal((n_k, d_k))
    v, dout = rng.standard_normal((n_k, d_v)), rng.standard_normal((n_q, d_v))
    if extreme:  # logits of about ±1e4
        q = q * 100.0
        k = k * 100.0 * math.sqrt(d_k) / np.abs(q @ k.T).max() * 100.0
    mask = None
    if masked:
        mask = rng.random((n_q, n_k)) < 0.6
        mask[0, :] = False  # a fully masked row
        if n_q > 1:
            mask[-1, :] = True
    return q, k, v, dout, mask, scale


CASES = [
    dict(n_q=1, n_k=1, d_k=1, d_v=1),
    dict(n_q=3, n_k=3, d_k=5, d_v=5),
    dict(n_q=4, n_k=6, d_k=3, d_v=2, masked=True),
    dict(n_q=7, n_k=5, d_k=8, d_v=3, masked=True, scale=0.9),
    dict(n_q=5, n_k=9, d_k=4, d_v=6, extreme=True),
    dict(n_q=6, n_k=4, d_k=2, d_v=3, extreme=True, masked=True),
    dict(n_q=2, n_k=12, d_k=16, d_v=4, scale=2.5),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_set_and_state_equal_gemini_np_to_1e_12(opened, case):
    rng = np.random.default_rng(100 + case)
    q, k, v, dout, mask, scale = random_case(rng, **CASES[case])
    inputs = {"q": q.tolist(), "k": k.tolist(), "v": v.tolist(), "dout": dout.tolist()}
    if mask is not None:
        inputs["mask"] = mask.tolist()
    if scale is not None:
        inputs["scale"] = scale
    got = opened.js("(inputs) => { gnpExplorer.set(inputs); return gnpExplorer.state(); }", inputs)
    out, cache = gnp.attention_forward(q, k, v, mask=mask, scale=scale)
    dq, dk, dv = gnp.attention_backward(dout, cache)
    if CASES[case].get("extreme"):
        logits = (q @ k.T) * (scale or 1 / math.sqrt(k.shape[1]))
        assert np.abs(logits).max() > 5e3  # the case really has extreme logits
    for name, want in (("weights", cache.weights), ("out", out), ("dq", dq), ("dk", dk), ("dv", dv)):
        have = np.array(got[name], dtype=np.float64)
        assert have.shape == want.shape, name
        assert np.all(np.isfinite(have)), name
        np.testing.assert_allclose(have, want, **TOL, err_msg=name)
    if mask is not None:  # the fully masked row: zero weights, output and query gradient (never NaN)
        assert np.all(np.array(got["weights"])[0] == 0) and np.all(np.array(got["out"])[0] == 0)
        assert np.all(np.array(got["dq"])[0] == 0)
        assert "q1" in opened.page.inner_text("#step-alert")  # and the page says so


def test_set_rejects_bad_inputs_with_a_clear_message(opened):
    good = {"q": [[1.0, 2.0]], "k": [[1.0, 0.0], [0.0, 1.0]], "v": [[1.0], [2.0]], "dout": [[1.0]]}
    bad = [
        ({**good, "k": [[1.0, 0.0, 0.0]]}, "k must have 2 columns"),
        ({**good, "v": [[1.0]]}, "v must have 2 rows"),
        ({**good, "dout": [[1.0, 2.0]]}, "dout must have 1 columns"),
        ({**good, "q": [[1.0, float("nan")]]}, "finite numbers"),
        ({**good, "mask": [[True]]}, "mask must be 1 arrays of 2 booleans"),
        ({**good, "scale": -1}, "scale must be a positive"),
    ]
    before = opened.js("gnpExplorer.state()")
    for inputs, message in bad:
        error = opened.js("(x) => { try { gnpExplorer.set(x); return null; } catch (e) { return e.message; } }", inputs)
        assert error is not None and message in error, (message, error)
    assert opened.js("gnpExplorer.state()") == before  # a rejected set changes nothing


def test_editing_a_cell_recomputes_everything(opened):
    opened.page.click("#stage .card[data-name=Q] td.editable >> nth=1")  # Q[0][1], 0 in the article's example
    opened.page.keyboard.type("2.5")
    opened.page.keyboard.press("Enter")
    q = np.eye(3, 5)
    q[0, 1] = 2.5
    h = np.eye(3, 5)
    out, cache = gnp.attention_forward(q, h, h)
    got = opened.js("gnpExplorer.state()")
    np.testing.assert_allclose(np.array(got["weights"]), cache.weights, **TOL)
    np.testing.assert_allclose(np.array(got["out"]), out, **TOL)
    # no longer the preset: the page says its numbers are its own now
    assert opened.js("document.getElementById('numpy-check').dataset.i18n") == "numpy_edited"


def test_temperature_and_key_mask_controls(opened):
    # T = e^-3: nearly the article's hard-max identity
    opened.js("(() => { const s = document.getElementById('temperature'); s.value = '-3'; s.dispatchEvent(new Event('input')); })()")
    got = opened.js("gnpExplorer.state()")
    T = math.exp(-3)
    h = np.eye(3, 5)
    out, cache = gnp.attention_forward(h, h, h, scale=1 / (T * math.sqrt(5)))
    np.testing.assert_allclose(np.array(got["weights"]), cache.weights, **TOL)
    assert np.array(got["weights"])[0, 0] > 0.99
    opened.page.click("#temperature-reset")
    opened.page.click(".mask-toggle[data-key='0']")  # nobody may attend to 猫
    got = opened.js("gnpExplorer.state()")
    mask = np.ones((3, 3), dtype=bool)
    mask[:, 0] = False
    out, cache = gnp.attention_forward(h, h, h, mask=mask)
    np.testing.assert_allclose(np.array(got["weights"]), cache.weights, **TOL)
    for j in (1, 2):  # mask every key: every row is fully masked, and the rule is shown
        opened.page.click(f".mask-toggle[data-key='{j}']")
    got = opened.js("gnpExplorer.state()")
    assert np.all(np.array(got["weights"]) == 0) and np.all(np.array(got["dq"]) == 0)
    assert not opened.page.is_hidden("#step-alert")


# ----------------------------------------------------------------------------- softmax rows as shown


def shown_matrix(opened, name):
    """The numbers of the card `name` on the stage (full precision, from data-value), and its Σ column."""
    rows = opened.js(f"""[...document.querySelectorAll('#stage .card[data-name="{name}"] tr')].slice(1).map(
        tr => [...tr.querySelectorAll('td')].map(td => [td.className.includes('sum'), Number(td.dataset.value), td.textContent]))""")
    cells = np.array([[v for is_sum, v, _ in row if not is_sum] for row in rows])
    sums = [[text for is_sum, _, text in row if is_sum] for row in rows]
    return cells, sums


@pytest.mark.parametrize("seed", [0, 1])
def test_each_softmax_row_shown_sums_to_one_and_lies_in_0_1(opened, seed):
    rng = np.random.default_rng(seed)
    q, k, v, dout, mask, _ = random_case(rng, 4, 6, 3, 2, masked=True)
    q[1] *= 80.0  # a row of large logits
    opened.js("(x) => gnpExplorer.set(x)", {"q": q.tolist(), "k": k.tolist(), "v": v.tolist(), "dout": dout.tolist(),
                                             "mask": mask.tolist()})
    opened.page.click("#formula-list li[data-step='7']")  # P = softmax(S) (4 queries: steps 4-7 are the rows)
    assert opened.js("document.getElementById('stage').dataset.step") == "p"
    P, sums = shown_matrix(opened, "P")
    assert P.shape == (4, 6)
    assert np.all((P >= 0) & (P <= 1))
    for i, row in enumerate(P):
        want = 0.0 if not mask[i].any() else 1.0  # a fully masked row is all zeros
        assert abs(row.sum() - want) < 1e-12
        assert sums[i] == (["0"] if want == 0 else ["1.0000"])
    assert np.all(P[~mask] == 0)
    for i in range(4):  # the row-by-row steps show the same rows
        opened.page.click(f"#formula-list li[data-step='{3 + i}']")
        P_partial, _ = shown_matrix(opened, "P")
        np.testing.assert_allclose(P_partial[i], P[i], rtol=0, atol=0)


# ----------------------------------------------------------------------------- languages


TEXT_NODES = """(pageLang) => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, parent = node.parentElement;
    if (parent.closest('script, style, [hidden]')) continue;
    const tagged = parent.closest('[lang]:not(html)');  // the language buttons say their own language
    if (tagged && tagged.lang !== pageLang) continue;
    if (node.textContent.trim()) out.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[title]')) out.push(el.title);
  return out;
}"""


def labels(opened):
    return opened.js("[...document.querySelectorAll('[data-i18n]')].filter(e => !e.closest('[hidden]')).map(e => [e.dataset.i18n, e.textContent])")


def test_switching_language_changes_every_label(opened):
    """In English nothing Chinese is left; in Chinese every label is Chinese; on every view and step."""
    def visit_all(check):
        for view in ("steps", "image", "fusion", "online"):
            opened.page.click(f".tab[data-view={view}]")
            if view == "steps":
                opened.page.keyboard.press("Home")
                for _ in range(15):
                    check(view)
                    opened.page.keyboard.press("ArrowRight")
            else:
                check(view)
        opened.page.click(".tab[data-view=steps]")

    zh_labels, en_labels = {}, {}

    def check_zh(view):
        for key, text in labels(opened):
            assert CJK.search(text), (view, key, text)  # every label in Chinese ...
            zh_labels[key] = text

    def check_en(view):
        for key, text in labels(opened):
            assert not CJK.search(text), (view, key, text)  # ... and in English none is
            en_labels[key] = text
        leftovers = [t for t in opened.js(TEXT_NODES, "en") if CJK.search(t)]
        assert leftovers == [], (view, leftovers)  # nor anything else on the page: tokens are translated too

    visit_all(check_zh)
    opened.page.click(".lang-button[data-set-lang=en]")
    assert opened.js("document.documentElement.lang") == "en"
    visit_all(check_en)
    assert set(zh_labels) == set(en_labels) and len(zh_labels) > 60
    assert all(zh_labels[k] != en_labels[k] for k in zh_labels)
    opened.page.click(".lang-button[data-set-lang=zh]")
    assert opened.page.inner_text(".tab[data-view=steps]") == zh_labels["tab_steps"]


# ----------------------------------------------------------------------------- the other views


def test_image_view_hover_shows_the_pixels_own_patch_weights(opened):
    opened.page.click(".tab[data-view=image]")
    canvas = opened.page.locator("#image-canvas")
    box = canvas.bounding_box()
    data = opened.js("JSON.parse(document.getElementById('gnp-data').textContent)")
    p, size = data["model"]["patch_size"], data["model"]["image_size"]
    for r, c in ((0, 0), (5, 9), (size - 1, size - 1)):
        opened.page.mouse.move(box["x"] + (c + 0.5) * box["width"] / size, box["y"] + (r + 0.5) * box["height"] / size)
        shown = np.array(opened.js("[...document.querySelectorAll('#patch-weights .heat-grid div')].map(d => Number(d.dataset.value))"))
        want = np.array(data["examples"][0]["pixel"])[r // p, c // p, (r % p) * p + c % p]
        np.testing.assert_array_equal(shown, want)  # exactly the weights NumPy wrote for that pixel
        assert shown.shape == (p * p,) and abs(shown.sum() - 1) < 1e-3  # rounded to 5 decimals in the page
        assert f"{r + 1}" in opened.page.inner_text("#pixel-info")


def test_fusion_view_token_and_patch_weights(opened):
    opened.page.click(".tab[data-view=fusion]")
    data = opened.js("JSON.parse(document.getElementById('gnp-data').textContent)")
    example = data["examples"][0]
    F = np.array(example["fusion"]).mean(axis=0)  # the default: the mean of the heads
    n = len(example["tokens"])
    np.testing.assert_allclose(F.sum(axis=1), 1, atol=1e-3)  # rows of an attention matrix
    opened.page.click("#token-buttons [data-token='1']")
    heat = np.array(opened.js("[...document.querySelectorAll('#token-heat .heat-grid div')].map(d => Number(d.dataset.value))"))
    np.testing.assert_allclose(heat, F[1, n:], rtol=1e-12)
    canvas = opened.page.locator("#patch-image").bounding_box()
    opened.page.mouse.click(canvas["x"] + canvas["width"] * 0.9, canvas["y"] + canvas["height"] * 0.1)  # top-right patch
    grid = data["model"]["image_size"] // data["model"]["patch_size"]
    bars = np.array(opened.js("[...document.querySelectorAll('#patch-bars .value')].map(d => Number(d.dataset.value))"))
    np.testing.assert_allclose(bars, F[n + grid - 1, :n], rtol=1e-12)


@pytest.mark.parametrize("block", [1, 2, 4, 7])
def test_online_softmax_replay_ends_at_the_exact_softmax(opened, block):
    rng = np.random.default_rng(block)
    q, k, v, dout, mask, _ = random_case(rng, 3, 7, 4, 3, masked=True)
    opened.js("(x) => gnpExplorer.set(x)", {"q": q.tolist(), "k": k.tolist(), "v": v.tolist(), "dout": dout.tolist(),
                                             "mask": mask.tolist()})
    out, cache = gnp.attention_forward(q, k, v, mask=mask)
    for row in range(3):
        run = opened.js(f"gnpExplorer.onlineSoftmax({row}, {block})")
        assert len(run["trace"]) == 1 + math.ceil(7 / block)
        np.testing.assert_allclose(run["out"], out[row], **TOL)
        np.testing.assert_allclose(run["weights"], cache.weights[row], **TOL)
    # the same, through the page's buttons
    opened.page.click(".tab[data-view=online]")
    opened.page.click(f"#online-blocks [data-block='{block}']")
    opened.page.click("#online-rows [data-row='2']")
    while not opened.page.is_disabled("#online-next"):
        opened.page.click("#online-next")
    difference = float(opened.js("document.querySelector('#online-result [data-difference]').dataset.difference"))
    assert difference <= 1e-12


# ----------------------------------------------------------------------------- presentation mode


def overflow(opened):
    return opened.js("""(() => {
      const stage = document.getElementById('stage'), main = document.querySelector('main');
      return [stage.scrollWidth - stage.clientWidth, stage.scrollHeight - stage.clientHeight,
              main.scrollWidth - main.clientWidth, main.scrollHeight - main.clientHeight,
              document.documentElement.scrollWidth - window.innerWidth];
    })()""")


@pytest.mark.parametrize("present", [False, True])
def test_nothing_is_cut_off_at_1280_by_720(opened, present):
    for preset in ("0", "1"):  # the article's 3×3 example and the random 4×6 one
        opened.page.select_option("#preset-select", preset)  # (presentation mode hides this menu)
        if present:
            opened.page.click("#present-button")
        opened.page.keyboard.press("Home")
        for _ in range(int(re.findall(r"\d+", opened.page.inner_text("#step-counter"))[1])):
            assert all(x <= 1 for x in overflow(opened)), (preset, opened.page.inner_text("#step-counter"), overflow(opened))
            if present and preset == "0":  # the article's example: numbers of at least 15 px everywhere
                cell = opened.js("parseFloat(getComputedStyle(document.querySelector('#stage table.matrix')).fontSize)")
                assert cell >= 15, opened.page.inner_text("#step-counter")
            opened.page.keyboard.press("ArrowRight")
        if present:
            size = opened.js("parseFloat(getComputedStyle(document.querySelector('#step-formula')).fontSize)")
            assert size >= 36  # large type for a projector
            opened.page.keyboard.press("Escape")
            assert not opened.js("document.body.classList.contains('present')")
