# Helpers shared by the rules: config and manifest validation, paths, stage parameters.
import json
import math
import shlex
import sys
from pathlib import Path

import yaml

from visionscores import OUTPUTS_VERSION
from visionscores.acquire.host_state import HostState
from visionscores.acquire.manifest import load_manifest
from visionscores.acquire.records import drop_stale_records, stale_record
from visionscores.config import check_config

REPO = Path(workflow.basedir)
# Every key, and the checks across keys, before anything is planned; the message names the
# key's path (e.g. `clean.max_skew_degs: unknown key`).
with open(REPO / "workflow/schemas/config.schema.yaml", encoding="utf-8") as handle:
    check_config(config, yaml.safe_load(handle))

RESOURCES = config["paths"]["resources"]
RESULTS = config["paths"]["results"]
SCENARIO = config["scenario"]

MANIFEST = REPO / config["scenarios"][SCENARIO]
with open(REPO / "workflow/schemas/manifest.schema.yaml", encoding="utf-8") as handle:
    MANIFEST_SCHEMA = yaml.safe_load(handle)
PIECES = {
    piece.piece_id: piece
    for piece in load_manifest(MANIFEST, MANIFEST_SCHEMA)
    if piece.scenario == SCENARIO
}
if not PIECES:
    raise ValueError(f"{MANIFEST}: no row has scenario {SCENARIO!r}")

DATASET = f"{RESULTS}/dataset/{SCENARIO}"


wildcard_constraints:
    piece="[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?",


# Memory a segment job declares, MB: a base (Python, NumPy, OpenCV, MuPDF, the renderer's
# child) plus bytes per pixel of the largest page render.max_pixels_per_page lets through,
# so that a scheduler never kills a job for a page the config allows. Measured with
# benchmarks/segment_memory.py on a page of 142.5 million pixels (95 % of the default
# limit): peak 780 MB rendered from vector, 901 MB extracted from a scan, under 6.4 bytes
# a pixel all included; the factor and the base leave room for peaks between samples.
SEGMENT_BASE_MB = 300
SEGMENT_BYTES_PER_PIXEL = 7


def segment_mem_mb(wildcards, attempt):
    """mem_mb of a segment job: from config render.max_pixels_per_page, raised per retry."""
    pixels = config["render"]["max_pixels_per_page"]
    return (
        math.ceil(SEGMENT_BASE_MB + SEGMENT_BYTES_PER_PIXEL * pixels / 2**20) * attempt
    )


def as_json(section):
    """A config section as one canonical JSON string (a shell argument, a params value)."""
    return json.dumps(config[section], sort_keys=True, separators=(",", ":"))


def download_policy_file():
    """Path of the downloader's settings file, beside the pacing locks.

    Politeness settings (pace, timeouts, contact) change how a PDF is fetched, never what
    it is, so they must not be params: a new timeout would otherwise rerun every piece.
    The file is not a rule input; write_download_policy writes it when a run starts.
    """
    return str(Path(RESOURCES) / ".pace" / "download-policy.json")


def write_download_policy():
    """Write the downloader's settings file (only when they changed). Called by `onstart:`,
    so that building the DAG (a dry run) writes nothing."""
    path = Path(download_policy_file())
    text = download_policy() + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(path)


def download_policy():
    """The downloader's settings (config imslp and acquire) as canonical JSON."""
    imslp = config["imslp"]
    policy = {
        "base_url": imslp["base_url"],
        "user_agent": f"visionscores/0.1 (+{imslp['contact']})",
        "min_interval_s": imslp["min_interval_s"],
        "timeout_s": imslp["timeout_s"],
        "max_retries": imslp["max_retries"],
        "backoff_base_s": imslp["backoff_base_s"],
        "wait_page_default_s": imslp["wait_page_default_s"],
        "wait_page_max_s": imslp["wait_page_max_s"],
        "max_bytes": config["acquire"]["max_download_bytes"],
        "allowed_hosts": config["acquire"]["allowed_hosts"],
        "max_download_s": config["acquire"]["max_download_s"],
        "min_rate_bytes_s": config["acquire"]["min_rate_bytes_s"],
        "min_rate_window_s": config["acquire"]["min_rate_window_s"],
        "cap_pause_s": config["acquire"]["cap_pause_h"] * 3600,
        "unreachable_pause_s": config["acquire"]["unreachable_pause_min"] * 60,
        "unreachable_after_failures": config["acquire"]["unreachable_after_failures"],
        "pace_dir": f"{RESOURCES}/.pace",
    }
    return json.dumps(policy, sort_keys=True, separators=(",", ":"))


def host_markers():
    """The daily-cap and unreachable markers in force (resources/.pace)."""
    policy = json.loads(download_policy())
    return HostState(
        policy["pace_dir"],
        policy["cap_pause_s"],
        policy["unreachable_pause_s"],
        policy["unreachable_after_failures"],
    ).markers()


def announce_host_markers():
    """Print the daily-cap and unreachable markers in force on the console."""
    for marker in host_markers():
        print(
            f"visionscores: {marker.describe(config['imslp']['base_url'])}",
            file=sys.stderr,
        )


def drop_stale_records_of_scenario(dry_run):
    """Remove the scenario's stale records (their PDF deleted, placed or replaced by hand
    since, or their daily-cap or unreachable pause over), so that those pieces are acquired
    anew and what is made from their PDF made again; say so on the console. A dry run
    removes nothing: it names them, and its plan leaves them out."""
    records = [f"{RESOURCES}/pdf/{piece}.json" for piece in PIECES]
    paused_hosts = {marker.host for marker in host_markers()}
    if dry_run:
        stale = [path for path in records if stale_record(path, paused_hosts)]
        consequence = "will be acquired anew when the workflow runs (not in this plan)"
    else:
        stale = drop_stale_records(records, paused_hosts)
        consequence = "is acquired anew"
    for path in stale:
        print(
            f"visionscores: {path} is stale: {Path(path).stem} {consequence}",
            file=sys.stderr,
        )


# Before anything is planned, so that the plan acquires those pieces anew. Only by the
# process that plans: a job re-reading the workflow (a cluster job) must not remove a
# record the run still relies on.
if workflow.is_main_process:
    drop_stale_records_of_scenario(workflow.output_settings.dryrun)


def piece_field(field):
    """A params function giving one manifest field of the job's piece."""
    return lambda wildcards: getattr(PIECES[wildcards.piece], field)


def per_piece(pattern):
    """``pattern`` expanded for every piece of the scenario."""
    return expand(pattern, piece=sorted(PIECES))


def acquired_pieces():
    """The scenario's pieces whose PDF is in place, as listed by the acquired checkpoint
    (asking for them before it ran makes Snakemake plan it first)."""
    with open(checkpoints.acquired.get().output.pieces, encoding="utf-8") as handle:
        return json.load(handle)["pieces"]


def per_acquired_piece(pattern):
    """An input function: ``pattern`` expanded for every piece whose PDF is in place."""
    return lambda wildcards: expand(pattern, piece=acquired_pieces())


def works_metadata():
    """The enrich rule's output when config imslp.enrich is on (publish reads it), else []."""
    return (
        [f"{RESULTS}/imslp/{SCENARIO}.works.json"] if config["imslp"]["enrich"] else []
    )


def works_option(wildcards, input):
    """`--works FILE` for publish when work-page metadata was fetched."""
    return f"--works {shlex.quote(str(input.works))}" if input.works else ""


def dataset_outputs(wildcards):
    """Every file the dataset refers to, as targets of the default target (all): the tables,
    the acquire record of every piece, and per piece whose PDF is in place its pages,
    systems, judged and formatted tables and image folder. A target deleted by hand is
    rebuilt with what depends on it; an intermediate that is not a target would be taken as
    not needed while later outputs exist."""
    per_acquired_outputs = [
        *rules.segment.output,
        *rules.judge.output,
        rules.format.output.images,
        rules.format.output.samples,
    ]
    return [
        *rules.publish.output,
        *per_piece(rules.acquire.output.record),
        rules.acquired.output.pieces,
        *expand(per_acquired_outputs, piece=acquired_pieces()),
    ]


def print_failures(failures_csv, shown_per_cause=5):
    """After a run: name each failed piece and its cause on the console; past
    ``shown_per_cause`` pieces of one cause, only their count."""
    import csv
    from collections import defaultdict

    path = Path(failures_csv)
    if not path.exists():
        return
    with path.open(encoding="utf-8", newline="") as handle:
        failures = list(csv.DictReader(handle))
    if not failures:
        return
    print(f"\n{len(failures)} piece(s) failed (listed in {path}):", file=sys.stderr)
    by_cause = defaultdict(list)
    for failure in failures:
        by_cause[failure["cause"]].append(failure)
    for cause, group in by_cause.items():
        for failure in group[:shown_per_cause]:
            print(
                f"  {failure['piece_id']}: {failure['stage']} ({failure['cause']}):"
                f" {failure['message']}",
                file=sys.stderr,
            )
        if len(group) > shown_per_cause:
            print(
                f"  ... and {len(group) - shown_per_cause} more piece(s) with cause {cause}",
                file=sys.stderr,
            )


AUXILIARY_IMAGES = {
    "crops": ("native_crops", f"{DATASET}/crops/{{piece}}"),
    "full_pages": ("full_pages", f"{DATASET}/pages/{{piece}}"),
}


def auxiliary_image_outputs():
    """format's extra folders (native crops, full pages) that config export switches on."""
    return {
        name: directory(pattern)
        for name, (key, pattern) in AUXILIARY_IMAGES.items()
        if config["export"][key]
    }


def auxiliary_image_options(wildcards, output):
    """format's options naming those folders (`--crops DIR --full-pages DIR`)."""
    return " ".join(
        f"--{name.replace('_', '-')} {shlex.quote(output[name])}"
        for name in auxiliary_image_outputs()
    )


def export_outputs(wildcards):
    """The hub folder, plus the full pages and native crops config export switches on (of
    the pieces whose PDF is in place)."""
    outputs = list(rules.export.output)
    for name in auxiliary_image_outputs():
        outputs += expand(getattr(rules.format.output, name), piece=acquired_pieces())
    return outputs


def report_outputs():
    """The report's figures (for `rule all`, so `snakemake --report` finds them)."""
    return list(rules.report_figures.output)
