"""Bad and odd inputs: each file gives pages or a failure with its cause, alone and in a run.

The unit tests give each file of :mod:`bad_inputs` to :mod:`visionscores.segment.render`. The
workflow test places all of them as hand-placed PDFs (``resources/pdf/{piece_id}.pdf``, IMSLP
index rows whose downloads could only go to a closed loopback port) beside the demo's Mozart
as a control, runs Snakemake once, and checks the failures table, the kept systems and that
nothing was written outside the working directory's resources/, results/ and .snakemake/.
The manifest tests check that a bad manifest stops the run before anything is written.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pyarrow.parquet as pq
import pytest
import yaml
from bad_inputs import ALL, BAD, EMPTY, FINE, decompression_bomb_pdf, render_bomb_pdf
from repo_paths import REPO
from test_workflow import SNAKEMAKE

from visionscores.acquire.manifest import ManifestError, load_manifest
from visionscores.segment import page as segment
from visionscores.segment import render

CONFIG = yaml.safe_load((REPO / "config/config.yaml").read_text(encoding="utf-8"))
DPI = CONFIG["render"]["dpi"]
MAX_PIXELS = CONFIG["render"]["max_pixels_per_page"]
HEADER = [
    "piece_id", "scenario", "title", "composer", "key", "imslp_page", "imslp_file_index",
    "source", "sha256",
]  # fmt: skip
CONTROL = "mozart-k545-exposition"
# Text a spreadsheet would run (CSV injection) and HTML a web page would run.
CONTROL_TEXT = {
    "title": '=HYPERLINK("https://example.org/x","Sonata")',
    "composer": "@Mozart <script>alert(1)</script>",
    "key": "-C major",
}


def case_title(name: str) -> str:
    return f"+Case {name}"  # a formula too, for failures.csv and metadata.csv


OFFSITE = "offsite-url"  # a manifest URL on a host outside acquire.allowed_hosts


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-inputs")
    return {case.name: case.write(folder) for case in ALL}


# The segment job never declares less than its base (workflow/rules/common.smk).
CONFIG_DECLARED_FLOOR_MB = 300
# Samples of the bad run: not the default 128 x 512 fitted, so the card and the report must
# say what config format says.
SAMPLE_FORMAT = {"height_px": 96, "width_px": 384, "mode": "stretch"}
# Seconds a page may take to render in these tests (the render bomb takes hours).
TEST_SECONDS_PER_PAGE = 10.0


def render_all(path: Path) -> list:
    """Every page of ``path`` as the segment stage renders it: in a child process, bounded."""
    with render.open_pdf(path) as document:
        count = document.page_count
    with render.PageRenderer(path, DPI, MAX_PIXELS, TEST_SECONDS_PER_PAGE) as renderer:
        return [renderer.render(number)[:2] for number in range(1, count + 1)]


# --- (a) each file alone -----------------------------------------------------------------


@pytest.mark.parametrize("case", FINE, ids=lambda case: case.name)
def test_an_odd_but_fine_file_renders_and_yields_its_systems(case, made):
    pages = render_all(made[case.name])
    assert len(pages) == 1
    image, info = pages[0]
    assert image.dtype == "uint8" and image.ndim == 2
    assert info.height > info.width or case.name == "landscape"
    (processed,) = segment.process_pdf_pages(
        made[case.name], [1], CONFIG["render"], CONFIG["clean"], CONFIG["segment"]
    )
    assert processed.inverted == (case.name == "inverted-scan")
    systems = segment.page_to_json(1, processed.result)["systems"]
    grand_staves = [system for system in systems if system["n_staves"] == 2]
    assert len(grand_staves) >= case.min_systems, systems


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.name)
def test_a_bad_file_is_refused_with_its_cause(case, made):
    with pytest.raises(render.RenderError) as raised:
        render_all(made[case.name])
    assert raised.value.cause == case.cause, str(raised.value)


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    """A 30,000 px square blank scan (0.1 MB file, 0.9 gigapixel) must be refused from the
    image's declared size, without decoding it (time and peak memory of a fresh process)."""
    path = tmp_path / "bomb.pdf"
    decompression_bomb_pdf(path, side_px=30_000)
    script = (
        "import sys, time\n"
        "from visionscores.segment import render\n"
        "start = time.monotonic()\n"
        "try:\n"
        "    with render.open_pdf(sys.argv[1]) as document:\n"
        "        render.render_page(document, 1, float(sys.argv[2]), int(sys.argv[3]))\n"
        "    outcome = 'rendered'\n"
        "except render.RenderError as error:\n"
        "    outcome = error.cause\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking test process's peak across exec.
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "peak_mb = int(status) // 1024\n"
        "print(outcome, round(time.monotonic() - start, 2), peak_mb)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(path), str(DPI), str(MAX_PIXELS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    outcome, seconds, peak_mb = completed.stdout.split()
    assert outcome == "page-too-large"
    assert float(seconds) < 3.0, f"refusing took {seconds} s (peak {peak_mb} MB)"
    assert int(peak_mb) < 400, f"refusing took {peak_mb} MB at peak ({seconds} s)"


def test_a_render_bomb_is_stopped_at_the_time_limit(tmp_path):
    """2 ** 25 nested drawings (hours of MuPDF) are stopped after the page's time limit,
    the renderer's process is gone, and the page is named."""
    path = tmp_path / "bomb.pdf"
    render_bomb_pdf(path)
    assert path.stat().st_size < 8_000
    started = time.monotonic()
    renderer = render.PageRenderer(path, DPI, MAX_PIXELS, max_seconds=2.0)
    with pytest.raises(render.RenderError) as raised, renderer:
        renderer.render(1)
    elapsed = time.monotonic() - started
    assert raised.value.cause == "render-timeout"
    assert "page 1" in str(raised.value) and "render.max_seconds_per_page" in str(raised.value)
    assert 2.0 <= elapsed < 4.0, elapsed
    assert renderer._process is None  # killed and joined


def test_a_renderer_that_dies_fails_the_page_as_a_crash():
    """A renderer killed from outside (as the out-of-memory killer would) is a failure of
    the piece with cause render-crash, not an error of the job."""
    from bad_inputs import DEMO_PDF

    with render.PageRenderer(DEMO_PDF, DPI, MAX_PIXELS, 30.0) as renderer:
        os.kill(renderer._process.pid, signal.SIGKILL)
        renderer._process.join()
        with pytest.raises(render.RenderError) as raised:
            renderer.render(1)
    assert raised.value.cause == "render-crash"
    assert "exit code -9" in str(raised.value)


def test_the_renderer_gives_the_pixels_of_a_direct_render():
    """The pixels cross the pipe unchanged: the child's page equals MuPDF's in-process
    render of the same page."""
    from bad_inputs import DEMO_PDF

    with render.PageRenderer(DEMO_PDF, DPI, MAX_PIXELS, 30.0) as renderer:
        image, info, _ = renderer.render(1)
    with render.open_pdf(DEMO_PDF) as document:
        expected, expected_info = render.render_page(document, 1, DPI, MAX_PIXELS)
    assert info == expected_info
    assert image.shape == expected.shape and (image == expected).all()


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\nx"),  # a carriage return would end the row
        ("a\r\nb", "a\nb"),
        ("Mozart, W. A.", "Mozart, W. A."),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_a_csv_text_cell_that_would_run_as_a_formula_is_quoted(text, written, tmp_path):
    from visionscores import tables

    path = tmp_path / "t.csv"
    tables.write_csv([{"text": text, "number": -0.5}], ["text", "number"], path)
    with path.open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row == {"text": written, "number": "-0.5"}


# --- (b) all of them in one run ----------------------------------------------------------


def run_snakemake(workdir: Path, *args: str, env_extra: dict[str, str | None] | None = None):
    """Run Snakemake; ``env_extra`` sets (or with None, removes) environment variables."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **(env_extra or {}),
    }
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )


def demo_row(piece_id: str) -> dict[str, str]:
    with (REPO / "config/pieces/demo.csv").open(encoding="utf-8", newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["piece_id"] == piece_id)


def write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


def tree(root: Path, skip: tuple[str, ...] = ()) -> set[str]:
    """Relative paths of every file and folder under ``root`` (folders named in skip pruned)."""
    found = set()
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if name not in skip]
        base = Path(folder).relative_to(root)
        found.update((base / name).as_posix() for name in folders + files)
    return found


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


REPO_SKIP = (".git", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache")
# What Snakemake and matplotlib keep in the home folder; nothing else may land there.
TOOL_CACHES = (".cache/snakemake", ".cache/matplotlib", ".config/matplotlib")


def is_tool_cache(path: str) -> bool:
    """True for a tool cache folder, anything inside one, or a folder on the way to one."""
    return any(
        path == cache or path.startswith(f"{cache}/") or cache.startswith(f"{path}/")
        for cache in TOOL_CACHES
    )


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, made):
    """One Snakemake run over every file of bad_inputs, the control and an off-site URL."""
    root = tmp_path_factory.mktemp("bad-run")
    workdir, inputs, temp, home = root / "work", root / "inputs", root / "tmp", root / "home"
    for folder in (workdir / "resources/pdf", inputs, temp, home):
        folder.mkdir(parents=True)
    rows = [demo_row(CONTROL) | {"scenario": "bad"} | CONTROL_TEXT]
    for index, case in enumerate(ALL, start=1):
        (workdir / f"resources/pdf/{case.name}.pdf").write_bytes(made[case.name].read_bytes())
        rows.append(
            dict.fromkeys(HEADER, "")
            | {"piece_id": case.name, "scenario": "bad", "title": case_title(case.name)}
            | {"composer": "Test, A.", "imslp_file_index": str(1000 + index)}
        )
    rows.append(
        dict.fromkeys(HEADER, "")
        | {"piece_id": OFFSITE, "scenario": "bad", "title": "Off-site", "composer": "Test, A."}
        | {"source": "https://scores.example.com/k545.pdf"}
    )
    write_manifest(inputs / "bad.csv", rows)
    # A port bound but never listening: a download attempt is refused at once, locally.
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    override = {
        "scenario": "bad",
        "scenarios": {"bad": str(inputs / "bad.csv")},
        "imslp": {
            "base_url": f"http://127.0.0.1:{closed.getsockname()[1]}",
            "contact": "mailto:tests@example.org",
            "min_interval_s": 0.0,
            "timeout_s": 5.0,
            "max_retries": 0,
            "backoff_base_s": 0.0,
        },
        "acquire": {"allowed_hosts": ["127.0.0.1"]},
        "render": {"max_seconds_per_page": TEST_SECONDS_PER_PAGE},
        "format": SAMPLE_FORMAT,
    }
    (inputs / "bad.yaml").write_text(yaml.safe_dump(override), encoding="utf-8")

    # The run's temp and home folders are fresh, so that whatever lands there can be seen.
    isolated = {"TMPDIR": str(temp), "HOME": str(home)}
    isolated |= dict.fromkeys(("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"))
    repo_before, repo_status = tree(REPO, REPO_SKIP), git_status()
    tmp_before = set(os.listdir("/tmp"))
    started = time.monotonic()
    try:
        completed = run_snakemake(
            workdir,
            "--cores", "2", "--keep-going", "--configfile", str(inputs / "bad.yaml"),
            env_extra=isolated,
        )  # fmt: skip
    finally:
        closed.close()
    return {
        "workdir": workdir,
        "completed": completed,
        "seconds": time.monotonic() - started,
        "repo_new": tree(REPO, REPO_SKIP) - repo_before,
        "repo_status": (repo_status, git_status()),
        "tmp_new": set(os.listdir("/tmp")) - tmp_before,
        "temp_left": tree(temp),
        "home_left": tree(home),
    }


def failures_of(run) -> dict[str, dict[str, str]]:
    path = run["workdir"] / "results/dataset/bad/failures.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["piece_id"]: row for row in csv.DictReader(handle)}


def kept_of(run) -> dict[str, int]:
    kept: dict[str, int] = {}
    table = pq.read_table(run["workdir"] / "results/dataset/bad/metadata.parquet")
    for piece in table.column("piece_id").to_pylist():
        kept[piece] = kept.get(piece, 0) + 1
    return kept


@pytest.mark.workflow
def test_the_run_completes_and_publishes(bad_run):
    completed = bad_run["completed"]
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (bad_run["workdir"] / "results/dataset/bad/failures.parquet").is_file()


@pytest.mark.workflow
def test_every_bad_piece_is_listed_with_a_message_naming_it(bad_run):
    failures = failures_of(bad_run)
    output = bad_run["completed"].stdout + bad_run["completed"].stderr
    expected = {case.name for case in BAD} | {OFFSITE}
    assert set(failures) == expected
    for piece, failure in failures.items():
        assert piece in failure["message"], failure
        assert failure["title"], failure
        assert f"  {piece}: {failure['stage']} ({failure['cause']})" in output


@pytest.mark.workflow
def test_every_bad_piece_has_its_expected_cause(bad_run):
    causes = {piece: row["cause"] for piece, row in failures_of(bad_run).items()}
    expected = {case.name: case.cause for case in BAD} | {OFFSITE: "host-not-allowed"}
    assert causes == expected


@pytest.mark.workflow
def test_fine_pieces_and_the_control_keep_their_systems(bad_run):
    kept = kept_of(bad_run)
    expected = {case.name: case.min_systems for case in FINE} | {CONTROL: 4}
    short = {piece for piece, count in expected.items() if kept.get(piece, 0) < count}
    assert short == set(), kept
    assert not set(kept) & ({case.name for case in BAD} | {OFFSITE})


@pytest.mark.workflow
def test_the_run_writes_only_under_resources_results_and_snakemake(bad_run):
    """Security: no write into the repository, the system temp folder, the home folder or
    elsewhere in the working directory; the run's own temp folder (TMPDIR) is left empty."""
    top = {path.name for path in bad_run["workdir"].iterdir()}
    assert top <= {"resources", "results", ".snakemake"}, top
    assert bad_run["repo_new"] == set()
    before, after = bad_run["repo_status"]
    assert after == before
    # Other processes may use /tmp meanwhile: only names that can be this run's are checked.
    ours = (".tmp-", *(case.name for case in ALL), OFFSITE, CONTROL)
    assert {name for name in bad_run["tmp_new"] if any(word in name for word in ours)} == set()
    assert bad_run["temp_left"] == set()
    home_left = {path for path in bad_run["home_left"] if not is_tool_cache(path)}
    assert home_left == set()


@pytest.mark.workflow
def test_every_page_that_gives_nothing_is_listed_with_its_reason(bad_run):
    pages = pq.read_table(bad_run["workdir"] / "results/dataset/bad/pages.parquet").to_pylist()
    by_piece = {row["piece_id"]: row for row in pages}
    for case in EMPTY:
        row = by_piece[case.name]
        candidates = 1 if case.page_reason == "all-rejected" else 0  # the lone staff
        assert (row["candidates"], row["kept"], row["reason"]) == (
            candidates,
            0,
            case.page_reason,
        ), row
    assert by_piece["black-page"]["inverted"] and by_piece["inverted-scan"]["inverted"]
    assert "jbig2" in by_piece["unreadable-jbig2"]["detail"].lower()
    # Pages with a kept system have no reason; every piece with pages is in the table once.
    kept = kept_of(bad_run)
    for piece, count in kept.items():
        assert (by_piece[piece]["kept"], by_piece[piece]["reason"]) == (count, ""), piece
    failed = {case.name for case in BAD}
    assert set(by_piece) == {case.name for case in ALL} - failed | {CONTROL}
    funnel = (bad_run["workdir"] / "results/report/bad/funnel.html").read_text(encoding="utf-8")
    assert "<td>pages without a kept system: blank</td><td>2</td>" in funnel
    assert "<td>pages without a kept system: unreadable-image</td><td>1</td>" in funnel
    assert "<td>pages without a kept system: no-staves</td><td>1</td>" in funnel
    assert "<td>pages without a kept system: all-rejected</td><td>1</td>" in funnel


@pytest.mark.workflow
def test_the_card_and_the_gallery_follow_config_format(bad_run):
    dataset = bad_run["workdir"] / "results/dataset/bad"
    height, width = SAMPLE_FORMAT["height_px"], SAMPLE_FORMAT["width_px"]
    images = sorted((dataset / "images").rglob("*.jpg"))
    assert images and all(cv2.imread(str(path), 0).shape == (height, width) for path in images)
    card = (dataset / "hub/README.md").read_text(encoding="utf-8")
    assert f"One {height} × {width} (height × width)" in card
    assert "stretched to fill" in card and "fitted on white" not in card
    assert pq.read_metadata(dataset / "rejected.parquet").num_rows > 0
    gallery = cv2.imread(str(bad_run["workdir"] / "results/report/bad/rejected_gallery.png"))
    per_reason = CONFIG["report"]["gallery_per_reason"]
    gap = 8  # figures.TILE_GAP_PX
    assert gallery.shape[1] == per_reason * width + (per_reason + 1) * gap
    label = 22  # figures.LABEL_HEIGHT_PX
    assert (gallery.shape[0] - gap) % (height + label + gap) == 0


def csv_rows(run, name: str) -> list[dict[str, str]]:
    path = run["workdir"] / f"results/dataset/bad/{name}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.workflow
def test_formula_text_is_neutralised_in_every_csv_and_raw_in_parquet(bad_run):
    dataset = bad_run["workdir"] / "results/dataset/bad"
    quoted = {column: "'" + text for column, text in CONTROL_TEXT.items()}
    control = [row for row in csv_rows(bad_run, "metadata") if row["piece_id"] == CONTROL]
    assert control and all(
        row[column] == text for row in control for column, text in quoted.items()
    ), control[0]
    raw = pq.read_table(dataset / "metadata.parquet").to_pylist()
    assert {row["title"] for row in raw if row["piece_id"] == CONTROL} == {CONTROL_TEXT["title"]}
    fine = {case.name for case in FINE}
    assert {row["title"] for row in csv_rows(bad_run, "metadata") if row["piece_id"] in fine} == {
        "'" + case_title(name) for name in fine
    }
    failures = {row["piece_id"]: row["title"] for row in csv_rows(bad_run, "failures")}
    assert failures == {
        piece: "'" + case_title(piece) for piece in failures if piece != OFFSITE
    } | {OFFSITE: failures[OFFSITE]}
    raw_failures = pq.read_table(dataset / "failures.parquet").column("title").to_pylist()
    assert "+Case corrupt" in raw_failures
    for name in ("rejected", "pages", "hub/near_duplicates"):
        if (dataset / f"{name}.csv").exists():
            for row in csv_rows(bad_run, name):
                unsafe = [v for v in row.values() if v[:1] in ("=", "+", "@", "\t", "\r")]
                assert not unsafe, (name, row)


@pytest.mark.workflow
def test_the_dataset_card_shows_html_as_text(bad_run):
    card = (bad_run["workdir"] / "results/dataset/bad/hub/README.md").read_text(encoding="utf-8")
    assert "<script>" not in card
    assert "@Mozart &lt;script&gt;alert(1)&lt;/script&gt;" in card


def declared_segment_mem_mb(workdir: Path, max_pixels: int) -> int:
    """mem_mb of a segment job in Snakemake's plan with that pixel limit (one piece's
    systems as the target: the default target plans segment jobs only once the pieces are
    acquired)."""
    override = workdir / "limit.yaml"
    override.write_text(yaml.safe_dump({"render": {"max_pixels_per_page": max_pixels}}))
    target = "results/systems/mozart-k545-exposition.parquet"
    completed = run_snakemake(
        workdir, target, "--dry-run", "--cores", "1", "--configfile", str(override)
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    plan = completed.stdout.split("rule segment:", 1)[1]
    return int(re.search(r"mem_mb=(\d+)", plan)[1])


@pytest.mark.workflow
def test_a_page_at_the_pixel_limit_fits_in_the_memory_the_segment_job_declares(tmp_path):
    """A scan of 95 % of the pixel limit (40 million pixels here; the default 150 million
    is measured by benchmarks/segment_memory.py) goes through the real segment stage within
    the mem_mb the rule declares for that limit (peak PSS of the stage and its renderer)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import segment_memory

    limit = 40_000_000
    declared = declared_segment_mem_mb(tmp_path, limit)
    config = CONFIG | {"render": CONFIG["render"] | {"max_pixels_per_page": limit}}
    pixels = segment_memory.tiled_page_pdf(tmp_path / "page.pdf", DPI, 0.95 * limit, scan=True)
    assert 0.9 * limit < pixels <= limit
    peak_mb, _ = segment_memory.peak_of_segment(tmp_path, config)
    assert peak_mb < declared, (peak_mb, declared)
    assert declared > CONFIG_DECLARED_FLOOR_MB


# --- (c) a bad manifest stops the run before anything is written --------------------------


def manifest_bytes(*rows: list[str]) -> bytes:
    lines = [",".join(HEADER)] + [",".join(row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def row(**values: str) -> list[str]:
    """A valid manifest row of scenario "m" (no quoting needed), with ``values`` changed."""
    base = dict.fromkeys(HEADER, "") | {
        "piece_id": "mozart",
        "scenario": "m",
        "title": "Sonata",
        "composer": "Mozart W. A.",
        "source": f"demo/pdf/{CONTROL}.pdf",
    }
    return [(base | values)[column] for column in HEADER]


# Row 3 saved in Latin-1 by a spreadsheet: the composer's name is not UTF-8.
NOT_UTF8 = manifest_bytes(row()) + b"chopin,m,Nocturne,Chopin Fr\xe9d\xe9ric,,,,demo/pdf/x.pdf,\n"
MANIFEST_CASES = {
    "duplicate-piece-id": (manifest_bytes(row(), row()), 3, "piece_id", "duplicate"),
    "traversal-piece-id": (manifest_bytes(row(piece_id="../../x")), 2, "piece_id", "../../x"),
    "traversal-source": (
        manifest_bytes(row(), row(piece_id="b", source="../../x")),
        3,
        "source",
        "'..' in the path",
    ),
    "not-utf-8": (NOT_UTF8, 3, "composer", "UTF-8"),
}


def test_a_manifest_that_is_not_utf8_is_named_by_file_row_and_field(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(NOT_UTF8)
    schema = yaml.safe_load((REPO / "workflow/schemas/manifest.schema.yaml").read_text())
    with pytest.raises(ManifestError) as raised:
        load_manifest(path, schema)
    assert f"{path}, row 3, field 'composer'" in str(raised.value)
    assert "0xe9" in str(raised.value)


@pytest.mark.workflow
@pytest.mark.parametrize("name", sorted(MANIFEST_CASES))
def test_a_bad_manifest_stops_the_run_naming_file_row_and_field(name, tmp_path):
    content, line, field, detail = MANIFEST_CASES[name]
    workdir, manifest = tmp_path / "work", tmp_path / "m.csv"
    workdir.mkdir()
    manifest.write_bytes(content)
    override = tmp_path / "m.yaml"
    override.write_text(yaml.safe_dump({"scenario": "m", "scenarios": {"m": str(manifest)}}))
    completed = run_snakemake(workdir, "--cores", "1", "--configfile", str(override))
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert f"{manifest}, row {line}, field '{field}'" in output, output
    assert detail in output
    assert not (workdir / "results").exists()
    assert not (workdir / "resources").exists()


# --- (d) a bad configuration stops the run before anything is written ---------------------

CONFIG_CASES = {
    "misspelled-key": ({"clean": {"max_skew_degs": 3.0}}, "clean.max_skew_degs: unknown key"),
    "minimum-above-maximum": (
        {"clean": {"min_skew_deg": 6.0}},
        "clean.min_skew_deg: 6.0 is above clean.max_skew_deg (5.0)",
    ),
    "split-shares": (
        # Merged over the default shares: train 0.9, validation 0.1, test 0.2.
        {"export": {"split_fractions": {"train": 0.9, "test": 0.2}}},
        "export.split_fractions: the shares sum to 1.2, not 1",
    ),
    "empty-results-path": ({"paths": {"results": ""}}, "paths.results: '' should be non-empty"),
}


@pytest.mark.workflow
@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_a_bad_config_stops_the_run_naming_the_key(name, tmp_path):
    change, message = CONFIG_CASES[name]
    workdir, override = tmp_path / "work", tmp_path / "c.yaml"
    workdir.mkdir()
    override.write_text(yaml.safe_dump(change), encoding="utf-8")
    completed = run_snakemake(workdir, "--cores", "1", "--configfile", str(override))
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert message in output, output
    assert list(workdir.iterdir()) in ([], [workdir / ".snakemake"]), list(workdir.iterdir())
