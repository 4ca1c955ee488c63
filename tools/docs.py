"""Project tooling for the docs: README.md from nbs/index.ipynb, nbs/sidebar.yml, every notebook rendered to HTML
without Quarto (nbdev's processing, then nbconvert), checks that the pages have their titles, their figures and no
errors, screenshots in headless Chromium, and notebooks executed in place.

It imports nothing from `lorahub_nb`, so it works before the package is installed. From a shell, at the project root:

    python tools/docs.py readme                 # write README.md from nbs/index.ipynb (replaces `nbdev_readme`)
    python tools/docs.py sidebar                # write nbs/sidebar.yml in reading order
    python tools/docs.py render OUT             # render every notebook into OUT and check the pages
    python tools/docs.py execute NB... [--flags slow]   # run notebooks in place, keeping their outputs
    python tools/docs.py widgets-js             # cache the embed.js that draws widget pages (npm pack, once)
"""
from __future__ import annotations

import argparse
import ast
import html as html_lib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

TEST_FLAGS = ("slow", "gpu", "hub")   # the cells nbdev's test run skips (settings.ini: tst_flags)
MACHINE_PATHS = ("/tmp/", "/root/", "/home/", "site-packages", "/work/")   # must not appear in committed outputs
TEXT_MIMES = ("text/plain", "text/html", "text/markdown")

# --- cell directives ---------------------------------------------------------------------------------------------

_re_directive = re.compile(r"^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")


def _src(cell) -> str:
    """A cell's source as one string (notebooks store it as a string or a list of lines)."""
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _joined(text) -> str:
    """An output's text as one string (a string or a list of lines)."""
    return "".join(text) if isinstance(text, list) else text


def directives(source: str) -> dict:
    """The `#|` directives at the top of a cell's source: name -> value ('' for flags like `hide`)."""
    out = {}
    for line in source.splitlines():
        m = _re_directive.match(line)
        if m:
            out[m.group(1)] = m.group(2)
        elif line.strip():
            break
    return out


def strip_directives(source: str) -> str:
    """The source without its leading `#|` lines."""
    lines = source.splitlines()
    while lines and (_re_directive.match(lines[0]) or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines)


def _is_false(v: str) -> bool:
    """Is a directive's value a 'false'?"""
    return v.strip().lower() in ("false", "no", "0")


def shown(cell: dict) -> tuple:
    """(show source, show outputs) for a cell, after its directives."""
    if cell["cell_type"] != "code":
        return True, False
    d = directives(_src(cell))
    if "hide" in d or _is_false(d.get("include", "true")) or "default_exp" in d:
        return False, False
    return not _is_false(d.get("echo", "true")), not _is_false(d.get("output", "true"))


# --- the README ----------------------------------------------------------------------------------------------------

def title_and_summary(nb: dict) -> tuple:
    """The notebook's title (`# …`) and summary (`> …`), and the index of the markdown cell holding them."""
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        m = re.match(r"\s*#\s+(.+?)\s*\n(?:\s*\n)*(?:>\s*(.+?)\s*(?:\n|$))?", _src(cell) + "\n")
        if m:
            return m.group(1), m.group(2) or "", i
        break
    return None, "", None


def _text_output(out: dict) -> str:
    """The text the README shows for an output: stream text, else its markdown, else its plain text."""
    if out.get("output_type") == "stream":
        return _joined(out["text"])
    data = out.get("data", {})
    for mime in ("text/markdown", "text/plain"):
        if mime in data:
            return _joined(data[mime])
    return ""


def _indented(text: str) -> str:
    """Text indented four spaces (blank lines stay empty), as Quarto writes outputs."""
    return "\n".join("    " + line if line else "" for line in text.split("\n"))


def _readme_code_parts(cell: dict) -> list:
    """README parts of a code cell: its source as a python block, then its text outputs, as its directives allow."""
    parts = []
    show_src, show_out = shown(cell)
    src = strip_directives(_src(cell))
    if show_src and src.strip():
        parts.append(f"```python\n{src}\n```")
    outputs = cell.get("outputs", []) if show_out else []
    for out in outputs:
        text = _text_output(out).rstrip("\n")
        if text: parts.append(text if _is_markdown(out) else _indented(text))
    return parts


def _is_markdown(out: dict) -> bool:
    """A rich output with markdown: Quarto renders it as markdown, not as an indented block."""
    return out.get("output_type") != "stream" and "text/markdown" in out.get("data", {})


def readme_from_index(nb_path) -> str:
    """README markdown from the index notebook (`nb_path`), laid out as `nbdev_readme` does."""
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    title, summary, at = title_and_summary(nb)
    parts = []
    if title:
        parts.append(f"# {title}\n\n\n<!-- WARNING: THIS FILE WAS AUTOGENERATED! DO NOT EDIT! -->")
    if summary:
        parts.append(f"> {summary}")
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            src = _src(cell)
            if i == at:
                src = re.sub(r"\A\s*#\s+.+\n(\s*\n)*(>.*(\n|$))?", "", src + "\n")
            if src.strip():
                parts.append(src.strip("\n"))
        elif cell["cell_type"] == "code":
            parts += _readme_code_parts(cell)
    return "\n\n".join(parts) + "\n"


def project_root(start=None) -> Path:
    """The folder holding `settings.ini`, searching upwards from `start` (default: the working directory)."""
    p = Path(start or os.getcwd()).resolve()
    for q in (p, *p.parents):
        if (q / "settings.ini").exists():
            return q
    raise FileNotFoundError(f"no settings.ini in {p} or above: run this inside a clone of the repository")


def write_readme(root=None) -> Path:
    """Write README.md from nbs/index.ipynb under the project `root` (default: found from the cwd); returns its path."""
    root = project_root(root)
    out = root / "README.md"
    out.write_text(readme_from_index(root / "nbs" / "index.ipynb"), encoding="utf-8")
    return out


# --- committed outputs ---------------------------------------------------------------------------------------------

def _output_texts(out: dict) -> list:
    """(where, text) for each text an output carries: its stream text, or its plain/HTML/markdown data."""
    if out.get("output_type") == "stream":
        return [(out.get("name", "stream"), _joined(out.get("text", "")))]
    data = out.get("data", {})
    return [(mime, _joined(data[mime])) for mime in TEXT_MIMES if mime in data]


def _dirty_reasons(out: dict) -> list:
    """Why an output should not be committed: it is a stderr stream, or its text holds a machine path."""
    reasons = []
    if out.get("output_type") == "stream" and out.get("name") == "stderr":
        reasons.append("stderr stream")
    for where, text in _output_texts(out):
        reasons += [f"machine path {p!r} in {where}" for p in MACHINE_PATHS if p in text]
    return reasons


def dirty_outputs(nb_path) -> list:
    """(cell index, reason) for every committed output that is a stderr stream or shows a machine path."""
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    found = [(i, reason) for i, cell in enumerate(nb["cells"])
             for out in cell.get("outputs", []) for reason in _dirty_reasons(out)]
    return list(dict.fromkeys(found))   # each reason once per cell


def _parsed(source: str):
    """A cell's source as an AST, without its IPython magics and shell lines (None if it does not parse)."""
    lines = [l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # `compile_warnings` reports those
        try: return ast.parse("\n".join(lines))
        except SyntaxError: return None


def compile_warnings(nb_path) -> list:
    """(cell index, message) for each warning Python gives when compiling a code cell (an invalid escape sequence
    such as `\\s` in a non-raw string: a warning today, an error in a later Python)."""
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code": continue
        src = "\n".join(l for l in _src(cell).splitlines() if not l.lstrip().startswith(("%", "!")))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try: compile(src, f"cell {i}", "exec")
            except SyntaxError: continue
        found += [(i, str(w.message)) for w in caught]
    return found


def mixed_import_cells(nb_path) -> list:
    """Indices of visible, unexported code cells that import *and* run other code.

    nbdev's page rendering runs every cell with an import in it (to have the names for `show_doc`), without the test
    cells before it: such a cell then fails on the page for a name only a test cell defined. Hidden set-up cells are
    meant to run there, so they may mix."""
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    found = []
    for i, cell in enumerate(nb["cells"]):
        d = directives(_src(cell)) if cell["cell_type"] == "code" else {}
        if cell["cell_type"] != "code" or d.keys() & {"export", "exports", "exporti", "hide"}: continue
        if _is_false(d.get("eval", "true")) or (tree := _parsed(_src(cell))) is None: continue
        nodes = list(ast.walk(tree))
        if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and \
                any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes):
            found.append(i)
    return found


# --- rendering notebooks without Quarto ----------------------------------------------------------------------------

@dataclass
class Page:
    """One rendered notebook."""
    src: Path  # the source notebook
    html: Path | None = None  # the rendered page (None if processing failed)
    title: str = ""
    error: str = ""  # why processing or rendering failed ('' if it did not)


def notebooks(nbs_path) -> list:
    """The notebooks nbdev renders: every .ipynb under `nbs_path`, skipping folders starting with '.' or '_'."""
    nbs_path = Path(nbs_path)
    return sorted(p for p in nbs_path.rglob("*.ipynb")
                  if not any(part.startswith((".", "_")) for part in p.relative_to(nbs_path).parts))


_PROC = """import json
import sys
import warnings
from pathlib import Path
from nbdev.processors import FilterDefaults
from nbdev.serve_drv import main
warnings.simplefilter("ignore")
for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        main((Path(src), Path(dst), FilterDefaults))
        err = ""
    except BaseException as e:
        c = e.__cause__
        err = f"{type(e).__name__}: {e}" + (f"\\n  caused by {type(c).__name__}: {c}" if c else "")
    print("@@proc " + json.dumps(dict(src=src, error=err)), flush=True)"""


def _proc_batch(pairs: list, root, timeout=900) -> dict:
    """Process (src, dst) notebooks in turn in one fresh Python, as an nbdev worker does: src -> error or ''."""
    args = [str(x) for pair in pairs for x in pair]
    r = subprocess.run([sys.executable, "-c", _PROC, *args], cwd=root, capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"})
    reports = [json.loads(line[len("@@proc "):]) for line in r.stdout.splitlines() if line.startswith("@@proc ")]
    done = {d["src"]: d["error"] for d in reports}
    crash = "worker crashed: " + "\n".join(r.stderr.strip().splitlines()[-8:])
    return {str(s): done.get(str(s), crash) for s, _ in pairs}


def _process_all(pairs: list, root, n_workers: int, timeout: int) -> dict:
    """Process all (src, dst) pairs in `n_workers` processes, notebook i in worker i % n_workers: src -> error."""
    n_workers = max(1, n_workers)
    batches = [pairs[i::n_workers] for i in range(min(n_workers, len(pairs)) or 1)]
    with ThreadPoolExecutor(n_workers) as pool:
        results = pool.map(lambda batch: _proc_batch(batch, root, timeout * len(pairs)), batches)
        return {src: err for result in results for src, err in result.items()}


def front_matter(nb) -> tuple:
    """(title, description, index of the raw front-matter cell or None) of a processed notebook."""
    for i, cell in enumerate(nb.cells):
        src = _src(cell).strip()
        if cell.cell_type == "raw" and src.startswith("---"):
            fm = dict(re.findall(r"^(\w+):\s*(.*)$", src, re.M))
            return _unquoted(fm.get("title", "")), _unquoted(fm.get("description", "")), i
    return "", "", None


def _unquoted(s: str) -> str:
    """A YAML scalar without its surrounding spaces and quotes."""
    return s.strip().strip("'\"")


def _page_cell(cell):
    """A processed cell as the page shows it, or None when the page leaves it out."""
    if cell.cell_type == "raw":
        return None
    if cell.cell_type != "code":
        return cell
    show_src, show_out = shown(cell)
    cell.source = strip_directives(cell.source) if show_src else ""
    if not show_out:
        cell.outputs = []
    if not cell.source and not cell.outputs:
        return None
    cell.metadata = {k: v for k, v in cell.metadata.items() if k != "jupyter"}
    if not show_src:
        cell.metadata["jupyter"] = {"source_hidden": True}
    return cell


def _to_page(nb, title: str, description: str):
    """Turn a processed notebook into what the HTML page shows: a heading, then the cells it shows."""
    import nbformat
    heading = f"# {title}" + (f"\n\n> {description}" if description else "")
    cells = [nbformat.v4.new_markdown_cell(heading)] if title else []
    cells += [c for c in map(_page_cell, nb.cells) if c is not None]
    nb.cells = cells
    nb.metadata["title"] = title
    return nb


def _html_exporter():
    """nbconvert's lab-template HTML exporter, without input/output prompts."""
    from nbconvert import HTMLExporter
    ex = HTMLExporter(template_name="lab")
    ex.exclude_input_prompt = ex.exclude_output_prompt = True
    return ex


def _read_processed(dst):
    """A notebook nbdev processed, read with nbformat (cell ids allowed, nbdev's extra cell keys dropped)."""
    import nbformat
    raw = json.loads(Path(dst).read_text(encoding="utf-8"))
    raw["nbformat_minor"] = max(raw.get("nbformat_minor", 0), 5)   # nbdev writes cell ids into 4.4 notebooks
    keep = {"cell_type", "id", "metadata", "source", "outputs", "execution_count", "attachments"}
    raw["cells"] = [{k: v for k, v in c.items() if k in keep} for c in raw["cells"]]   # and marks like `has_sd`
    return nbformat.reads(json.dumps(raw), as_version=4)


def _write_page(page: Page, dst, out_html: Path, exporter, run: bool, timeout: int):
    """Write the page of one processed notebook (run first if `run`), filling in `page`'s title and html."""
    nb = _read_processed(dst)
    page.title, desc, _ = front_matter(nb)
    if run:
        nb = _execute(nb, page.src.parent, timeout)
    body, _ = exporter.from_notebook_node(_to_page(nb, page.title or page.src.stem, desc))
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(body, encoding="utf-8")
    page.html = out_html


def render_notebooks(out_dir,  # where the pages go (mirrors nbs/: `tutorials/x.ipynb` -> `tutorials/x.html`)
                     nbs_path=None,  # notebooks folder (default: nbs/ of the project around the working directory)
                     only: list = None,  # render just these notebooks (paths relative to nbs_path)
                     execute: list = (),  # run these notebooks (relative paths) with nbconvert before rendering
                     n_workers: int = 2,  # processes for nbdev's processing step
                     timeout: int = 600) -> list:  # seconds per executed notebook
    """Process every notebook as nbdev does, then write one HTML page each; returns a `Page` per notebook."""
    nbs_path = Path(nbs_path) if nbs_path else project_root() / "nbs"
    root, out_dir = project_root(nbs_path), Path(out_dir)
    srcs = [nbs_path / o for o in only] if only else notebooks(nbs_path)
    pairs = [(s, out_dir / "_proc" / s.relative_to(nbs_path)) for s in srcs]
    errors = _process_all(pairs, root, n_workers, timeout)
    to_run = {Path(e).as_posix() for e in execute}
    pages, exporter = [], _html_exporter()
    for src, dst in pairs:
        rel = src.relative_to(nbs_path)
        page = Page(src, error=errors[str(src)])
        pages.append(page)
        if page.error:
            continue
        try:
            _write_page(page, dst, out_dir / rel.with_suffix(".html"), exporter, rel.as_posix() in to_run, timeout)
        except Exception as e:
            page.error = f"{type(e).__name__}: {e}"
    return pages


# --- executing notebooks -------------------------------------------------------------------------------------------

def skipped(cell, flags=TEST_FLAGS) -> bool:
    """Does nbdev's test run skip this code cell (`#| eval: false`, or one of `flags`)?"""
    for line in cell["source"].splitlines():
        if not line.startswith("#|"):
            break
        d = line[2:].strip()
        if re.fullmatch(r"eval:\s*false", d) or d.split(" ")[0] in flags:
            return True
    return False


def _execute(nb, cwd, timeout, flags=()):
    """Run a notebook with nbconvert; cells nbdev's tests skip stay unrun and empty, unless their flag is in `flags`."""
    from nbconvert.preprocessors import ExecutePreprocessor
    skip = tuple(f for f in TEST_FLAGS if f not in flags)
    held = {i: c.source for i, c in enumerate(nb.cells) if c.cell_type == "code" and skipped(c, skip)}
    for i in held:
        nb.cells[i].source = ""
    try:
        ExecutePreprocessor(timeout=timeout, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(cwd)}})
    finally:
        for i, src in held.items():
            nb.cells[i].source = src
            nb.cells[i].outputs = []
            nb.cells[i].execution_count = None
    return nb


def execute_in_place(nb_path, timeout: int = 1800,
                     flags=()) -> Path:  # also run cells with these flags (slow, gpu, hub); `eval: false` never runs
    """Run a notebook with nbconvert (skipped cells stay unrun), keep its outputs, then `nbdev_clean` it."""
    import nbformat
    from nbdev.clean import nbdev_clean
    nb_path = Path(nb_path).resolve()
    nb = _execute(nbformat.read(nb_path, as_version=4), nb_path.parent, timeout, flags)
    nbformat.write(nb, nb_path)
    cwd = os.getcwd()
    os.chdir(project_root(nb_path))
    try:
        nbdev_clean.__wrapped__(fname=str(nb_path))
    finally:
        os.chdir(cwd)
    return nb_path


# --- checking pages ------------------------------------------------------------------------------------------------

_IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
_re_stderr = re.compile(r'data-mime-type="application/vnd.jupyter.stderr"[^>]*>\s*<pre>(.*?)</pre>', re.S)
_re_error = re.compile(r"Traceback \(most recent call last\)|<span class=\"ansi-red-fg\">\w*(Error|Exception)\b")


def image_outputs(nb_path) -> int:
    """How many image outputs (PNG, JPEG, SVG) a notebook shows."""
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    shown_outputs = [o for c in nb["cells"] if c["cell_type"] == "code" and shown(c)[1] for o in c.get("outputs", [])]
    return sum(any(m in o.get("data", {}) for m in _IMAGE_MIMES) for o in shown_outputs)


def error_outputs(page_html: str) -> list:
    """The error outputs (tracebacks) among a rendered page's stderr outputs; source code is not searched."""
    return [m.group(1) for m in _re_stderr.finditer(page_html) if _re_error.search(m.group(1))]


def _check_title(text: str, html, title: str | None) -> str:
    """Assert the page has a <title>, and that it and an <h1> are `title` when given; returns the <title>."""
    m = re.search(r"<title>(.*?)</title>", text, re.S)
    assert m and m.group(1).strip(), f"{html}: no <title>"
    if title:
        got = m.group(1).strip()
        assert html_lib.unescape(got) == title, f"{html}: <title> is {m.group(1)!r}, expected {title!r}"
        heading = r"<h1[^>]*>\s*" + re.escape(html_lib.escape(title, quote=False))
        assert re.search(heading, text), f"{html}: no <h1> {title!r}"
    return m.group(1).strip()


def check_page(page,  # a `Page` from `render_notebooks`, or the path of an HTML page
               nb_path=None,  # the source notebook (default: the Page's); gives the expected title and figure count
               title: str = None) -> dict:  # expected title (default: from the notebook's `# Title`)
    """Assert a rendered page has its title, its figures and no error output; returns some counts."""
    if isinstance(page, Page):
        if page.error:
            raise AssertionError(f"{page.src}: could not be rendered: {page.error}")
        nb_path, html = nb_path or page.src, page.html
    else:
        html = Path(page)
    text = Path(html).read_text(encoding="utf-8")
    if title is None and nb_path is not None:
        title = title_and_summary(json.loads(Path(nb_path).read_text(encoding="utf-8")))[0]
    page_title = _check_title(text, html, title)
    imgs = len(re.findall(r"<img\s[^>]*src=\"data:image/", text)) + text.count("<svg")
    n = image_outputs(nb_path) if nb_path else 0
    assert imgs >= n, f"{html}: {imgs} embedded images, but the notebook has {n} figures"
    errs = error_outputs(text)
    assert not errs, f"{html}: error output on the page: {re.sub('<[^>]+>', '', errs[0])[:500]}"
    return dict(title=page_title, images=imgs, figures=n, bytes=len(text))


# --- screenshots in headless Chromium ------------------------------------------------------------------------------

def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary (env CHROMIUM overrides), or None."""
    names = [os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
             "chrome"]
    return next((shutil.which(n) for n in names if n and shutil.which(n)), None)


def _chromium_cmd(exe: str, url: str, png: Path, profile: str, width: int, height: int,
                  wait_ms: int = None) -> list:
    """The headless Chromium command line for one screenshot (fresh profile, no network services); `png` None:
    print the DOM instead. `wait_ms`: let the page's scripts run this long (virtual time) first."""
    out = [f"--screenshot={png}"] if png is not None else ["--dump-dom"]
    wait = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={profile}", *out, *wait, f"--window-size={width},{height}", url]


def _chromium_exe(chromium: str = None) -> str:
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("no Chromium found: install it (Debian: apt-get install chromium) or set CHROMIUM")
    return exe


def _url(html) -> str:
    return html if re.match(r"^\w+://", str(html)) else Path(html).resolve().as_uri()


def screenshot(html, png, width: int = 1200, height: int = 900, timeout: int = 90, chromium: str = None,
               wait_ms: int = None) -> Path:  # let scripts (a widget page's) run this long first
    """Screenshot of a page (`html`: a path or any URL) saved to `png`, by headless Chromium."""
    exe = _chromium_exe(chromium)
    url = _url(html)
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = _chromium_cmd(exe, url, png, profile, width, height, wait_ms)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.exists():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {r.returncode}): {r.stderr[-1000:]}")
    return png


def dump_dom(html, width: int = 1200, height: int = 900, wait_ms: int = 10_000, timeout: int = 90,
             chromium: str = None) -> str:
    """The page's DOM after its scripts ran for `wait_ms` (virtual time), as headless Chromium serialises it."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = _chromium_cmd(_chromium_exe(chromium), _url(html), None, profile, width, height, wait_ms)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0 or "<html" not in r.stdout:
        raise RuntimeError(f"Chromium printed no DOM (exit {r.returncode}): {r.stderr[-1000:]}")
    return r.stdout


# --- widget pages: ipywidgets' static export, rendered by @jupyter-widgets/html-manager -----------------------------

HTML_MANAGER = ("@jupyter-widgets/html-manager", "1.0.15")   # the npm package whose dist/embed.js renders widget state


def _cache_dir() -> Path:
    """This library's cache folder (as `lorahub_nb.utils.cache_root`: $LORAHUB_NB_CACHE, else ~/.cache/lorahub_nb)."""
    if os.environ.get("LORAHUB_NB_CACHE"):
        return Path(os.environ["LORAHUB_NB_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "lorahub_nb"


def widgets_js(cache_dir=None, download: bool = True, timeout: int = 300) -> Path | None:
    """The html-manager's `embed.js` (ipywidgets' static pages without a CDN): cached, else fetched once with
    `npm pack` when `download`; None when it is neither cached nor fetchable."""
    name, version = HTML_MANAGER
    dest = Path(cache_dir or _cache_dir()) / "npm" / f"html-manager-{version}" / "embed.js"
    if dest.is_file() or not download or shutil.which("npm") is None:
        return dest if dest.is_file() else None
    import tarfile
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=tmp, capture_output=True, text=True,
                           timeout=timeout)
        tgz = next(Path(tmp).glob("*.tgz"), None)
        if r.returncode != 0 or tgz is None:
            return None
        with tarfile.open(tgz) as t:
            data = t.extractfile("package/dist/embed.js").read()
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".embed.js.{os.getpid()}")
        part.write_bytes(data)
        os.replace(part, dest)
    return dest


_re_probe = re.compile(r'<pre id="lh-probe">(.*?)</pre>', re.S)

# Measures an explorer page (lorahub_nb.explorer) once its widgets are on screen: per module row its name (tooltip),
# the name's text, its box, whether the text overflows its box, and the slider track's width; per chart bar its
# label's text and box. It writes them as JSON into <pre id="lh-probe">.
EXPLORER_PROBE = """<script>
function lhBox(e) { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
function lhInside(a, b) { return a[0] >= b[0] - 1 && a[1] >= b[1] - 1 && a[2] <= b[2] + 1 && a[3] <= b[3] + 1; }
function lhClipped(e) {  // does e overflow its own box, or lie partly outside an ancestor that clips, or the page?
  if (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1) return true;
  const box = lhBox(e);
  if (box[0] < 0 || box[2] > document.documentElement.clientWidth + 1) return true;
  for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
    const s = getComputedStyle(a);
    if ((s.overflowX !== 'visible' || s.overflowY !== 'visible') && !lhInside(box, lhBox(a))) return true; }
  return false; }
function lhProbe() {
  const rows = [...document.querySelectorAll('.lh-row')];
  const bars = [...document.querySelectorAll('.lh-bar-label')];
  if (!rows.length || !bars.length) return false;
  const out = {width: document.documentElement.clientWidth,
    rows: rows.filter(r => r.offsetParent !== null).map(r => { const n = r.querySelector('.lh-name');
      const track = r.querySelector('.noUi-target');
      return {name: n.title, text: n.textContent, box: lhBox(n), clipped: lhClipped(n),
              track: track ? track.getBoundingClientRect().width : 0, track_box: track ? lhBox(track) : null}; }),
    bars: bars.map(b => ({text: b.textContent, box: lhBox(b), clipped: lhClipped(b)}))};
  const pre = document.createElement('pre'); pre.id = 'lh-probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre); return true;
}
const lhTimer = setInterval(() => { if (lhProbe()) clearInterval(lhTimer); }, 50);
</script>"""


def probe_page(html, probe: str = EXPLORER_PROBE, **kw) -> dict:
    """What `probe` (a script writing JSON into <pre id="lh-probe">) measured on a copy of the page `html`."""
    html = Path(html)
    probed = html.with_name(f".probe-{html.name}")
    probed.write_text(html.read_text(encoding="utf-8").replace("</body>", probe + "\n</body>"), encoding="utf-8")
    try:
        m = _re_probe.search(dump_dom(probed, **kw))
    finally:
        probed.unlink(missing_ok=True)
    if m is None:
        raise AssertionError(f"{html.name}: the probe found no explorer on the page (did the widgets render?)")
    return json.loads(html_lib.unescape(m.group(1)))


def overlaps(boxes: list) -> list:
    """Pairs (i, j) of boxes [left, top, right, bottom] that overlap by more than a pixel."""
    hit = lambda a, b: min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if hit(boxes[i], boxes[j])]


def page_ink(png) -> dict:
    """Distinct colours and the fraction of non-white pixels of a screenshot."""
    import numpy as np
    from PIL import Image
    with Image.open(png) as im:
        size = im.size
        a = np.asarray(im.convert("RGB")).reshape(-1, 3)
    colours = len(np.unique(a[:: max(1, len(a) // 200_000)], axis=0))
    return dict(colours=colours, ink=float((a.min(axis=1) < 245).mean()), size=size)


# --- the sidebar ---------------------------------------------------------------------------------------------------

def sidebar_yml(nbs_path) -> str:
    """nbs/sidebar.yml for Quarto: index, then Tutorials, then the numbered API notebooks in order."""
    rel = [p.relative_to(nbs_path).as_posix() for p in notebooks(nbs_path)]
    api = [r for r in rel if "/" not in r and re.match(r"^\d+_", r)]
    tutorials = [r for r in rel if r.startswith("tutorials/")]
    other = [r for r in rel if r not in api and r not in tutorials and r != "index.ipynb"]
    out = ["website:", "  sidebar:", "    contents:"]
    if "index.ipynb" in rel:
        out.append("      - index.ipynb")
    out += ["      - " + r for r in other]
    for title, items in (("Tutorials", tutorials), ("API", api)):
        if items:
            out += [f"      - section: {title}", "        contents:"] + ["          - " + r for r in items]
    return "\n".join(out) + "\n"


def write_sidebar(root=None) -> Path:
    """Write nbs/sidebar.yml (see `sidebar_yml`) under the project `root`; returns its path."""
    nbs = project_root(root) / "nbs"
    out = nbs / "sidebar.yml"
    out.write_text(sidebar_yml(nbs))
    return out


# --- command line --------------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    """The command line: readme | sidebar | render OUT | execute NB... [--flags slow] | widgets-js."""
    p = argparse.ArgumentParser(prog="python tools/docs.py", description="README and HTML docs without Quarto")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("readme", help="write README.md from nbs/index.ipynb")
    sub.add_parser("sidebar", help="write nbs/sidebar.yml (reading order) for Quarto")
    r = sub.add_parser("render", help="render every notebook to HTML and check the pages")
    r.add_argument("out", nargs="?", default="_render")
    r.add_argument("--execute", nargs="*", default=[])
    e = sub.add_parser("execute", help="run notebooks in place, keeping their outputs")
    e.add_argument("notebooks", nargs="+")
    e.add_argument("--flags", nargs="*", default=[], help="also run cells with these flags (slow, gpu, hub)")
    sub.add_parser("widgets-js", help="fetch and cache the html-manager's embed.js (npm pack) for widget pages")
    return p


def _render_and_check(out, execute) -> int:
    """Render every notebook into `out`, check each page and print the verdicts; returns how many failed."""
    bad = 0
    for page in render_notebooks(out, execute=execute):
        try:
            print(f"ok    {page.html}  {check_page(page)}")
        except AssertionError as err:
            bad += 1
            print(f"FAIL  {page.src}: {err}")
    return bad


def main(argv=None):
    """Entry point of `python tools/docs.py`."""
    a = _parser().parse_args(argv)
    if a.cmd == "readme":
        print(f"wrote {write_readme()}")
    elif a.cmd == "sidebar":
        print(f"wrote {write_sidebar()}")
    elif a.cmd == "execute":
        for nb in a.notebooks:
            print(f"executed {execute_in_place(nb, flags=a.flags)}")
    elif a.cmd == "widgets-js":
        js = widgets_js()
        if js is None:
            sys.exit(f"could not fetch {'@'.join(HTML_MANAGER)} with npm pack (is npm installed and its registry "
                     "reachable?)")
        print(f"{'@'.join(HTML_MANAGER)}: {js}")
    else:
        bad = _render_and_check(a.out, a.execute)
        if bad:
            sys.exit(f"{bad} page(s) failed")


if __name__ == "__main__":
    main()
