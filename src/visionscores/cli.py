"""Command line: ``visionscores segment`` for a page at hand, ``visionscores stage …`` for
the workflow's rules (one subcommand per stage), and ``visionscores todo`` and
``visionscores import`` for getting PDFs through a browser.

Imports are deferred to the command that runs, so a job starts no heavier than its stage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from error


def _page_config(config_path: Path, dpi: float | None) -> dict:
    """The `render:`, `clean:` and `segment:` sections of a workflow config file."""
    import yaml

    from visionscores.errors import VisionscoresError

    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise VisionscoresError(f"{config_path}: cannot read the config ({error})") from error
    missing = [key for key in ("render", "clean", "segment") if key not in (config or {})]
    if missing:
        raise VisionscoresError(f"{config_path}: no section {', '.join(missing)}")
    render_params = dict(config["render"])
    if dpi is not None:
        render_params["dpi"] = dpi
    return {"render": render_params, "clean": config["clean"], "segment": config["segment"]}


def _cmd_segment(args: argparse.Namespace) -> int:
    """Segment a PDF or an image through the workflow's page pipeline; print the contract."""
    import cv2

    from visionscores.segment import page as segment
    from visionscores.segment import render

    path = Path(args.path)
    config = _page_config(Path(args.config), args.dpi)
    result = []
    if path.suffix.lower() == ".pdf":
        with render.open_pdf(path) as document:
            page_count = document.page_count
        numbers = [args.page] if args.page else list(range(1, page_count + 1))
        for number in numbers:
            if not 1 <= number <= page_count:
                raise render.RenderError(f"{path}: no page {number} (it has {page_count})")
        processing = segment.process_pdf_pages(
            path, numbers, config["render"], config["clean"], config["segment"]
        )
        for number, processed in zip(numbers, processing, strict=True):
            result.append(segment.page_to_json(number, processed.result))
    else:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise render.RenderError(f"{path}: not a readable image")
        processed = segment.process_image(image, config["clean"], config["segment"])
        result.append(segment.page_to_json(1, processed.result))
    output = {"pages": result}
    if args.json:
        print(json.dumps(output))
    else:
        for page in result:
            print(f"page {page['page']}: {len(page['systems'])} systems, skew {page['skew_deg']}°")
            for system in page["systems"]:
                box = ", ".join(f"{v:.0f}" for v in system["staff_bbox"])
                print(f"  {system['n_staves']} staves  staff_bbox [{box}]")
    return 0


def _report_failure(outcome: dict, stream=None) -> bool:
    """Print a piece's recorded failure (the job itself succeeds: the failure is data) on
    ``stream`` (default standard error)."""
    failure = outcome.get("failure")
    if not failure:
        return False
    print(
        f"visionscores: piece {failure['piece_id']} failed at {failure['stage']}"
        f" ({failure['cause']}): {failure['message']}",
        file=stream or sys.stderr,
    )
    return True


def _stage_acquire(args: argparse.Namespace) -> int:
    from visionscores.acquire.manifest import read_manifest_rows
    from visionscores.acquire.stage import acquire

    piece = read_manifest_rows(args.manifest)[args.piece]
    policy = json.loads(Path(args.policy).read_text(encoding="utf-8"))
    record = acquire(piece, Path(args.out), Path(args.repo_root), policy)
    # To the log only: the acquire rule shows standard error on the console, where the
    # run's end lists every failure once (and a cap or unreachable host is said once).
    if not _report_failure(record, sys.stdout):
        print(f"acquired {args.piece} ({record['origin']}): {record['bytes']} bytes")
    return 0


def _stage_acquired(args: argparse.Namespace) -> int:
    from visionscores.acquire.records import write_acquired

    pieces = write_acquired(args.records, args.out)
    print(f"{len(pieces)} of {len(args.records)} piece(s) have their PDF in place")
    return 0


def _stage_enrich(args: argparse.Namespace) -> int:
    from visionscores.acquire.stage import enrich

    policy = json.loads(Path(args.policy).read_text(encoding="utf-8"))
    works = enrich(Path(args.manifest), args.scenario, policy, Path(args.cache_dir), Path(args.out))
    failed = sum("error" in work for work in works.values())
    print(f"work pages of {args.scenario}: {len(works)} ({failed} could not be fetched)")
    return 0


def _stage_segment(args: argparse.Namespace) -> int:
    from visionscores.segment.stage import segment

    listing = segment(
        args.piece,
        Path(args.record),
        Path(args.pages_out),
        Path(args.systems_out),
        args.render,
        args.clean,
        args.segment,
        args.movements,
        args.key_signature,
    )
    if not _report_failure(listing):
        candidates = sum(page["candidates"] for page in listing["pages"])
        print(f"segmented {args.piece}: {len(listing['pages'])} pages, {candidates} candidates")
    return 0


def _stage_judge(args: argparse.Namespace) -> int:
    from visionscores.judge.stage import judge

    kept, rejected = judge(Path(args.systems), Path(args.out), args.thresholds)
    print(f"judged {args.piece}: {kept} kept, {rejected} rejected")
    return 0


def _stage_format(args: argparse.Namespace) -> int:
    from visionscores.format.stage import format_samples

    count = format_samples(
        Path(args.judged),
        Path(args.pages),
        Path(args.images),
        Path(args.out),
        Path(args.dataset_dir),
        args.params,
        crops_dir=Path(args.crops) if args.crops else None,
        full_pages_dir=Path(args.full_pages) if args.full_pages else None,
    )
    print(f"formatted {args.piece}: {count} images")
    return 0


def _stage_publish(args: argparse.Namespace) -> int:
    from visionscores.publish.stage import publish

    counts = publish(
        args.manifest,
        args.scenario,
        args.judged,
        args.formatted,
        args.pages,
        args.out_dir,
        args.works,
        args.records,
    )
    print(f"published {args.scenario}: {json.dumps(counts, sort_keys=True)}")
    if counts["failed_pieces"]:
        print(
            f"visionscores: {counts['failed_pieces']} piece(s) failed; see"
            f" {Path(args.out_dir) / 'failures.csv'}",
            file=sys.stderr,
        )
    return 0


def _stage_export(args: argparse.Namespace) -> int:
    from visionscores.export.stage import export_dataset

    counts = export_dataset(
        args.metadata,
        args.rejected,
        args.pages,
        args.dataset_dir,
        args.out_dir,
        args.params,
        args.format,
        args.records,
    )
    print(f"exported: {json.dumps(counts, sort_keys=True)}")
    return 0


def _stage_report(args: argparse.Namespace) -> int:
    from visionscores.report.stage import build_report

    counts = build_report(
        args.metadata,
        args.rejected,
        args.pages,
        args.judged,
        args.thresholds,
        args.out_dir,
        dataset_dir=args.dataset_dir,
        seed=args.seed,
        contact_sheet_count=args.contact_sheet,
        gallery_per_reason=args.gallery_per_reason,
        overlay_pages=args.overlay_pages,
        sample_format=args.format,
        record_paths=args.records,
    )
    print(f"report figures: {json.dumps(counts, sort_keys=True)}")
    return 0


def _cmd_todo(args: argparse.Namespace) -> int:
    """List the pieces without a usable PDF (CSV and HTML)."""
    from visionscores.acquire.browser import todo

    out = Path(args.out)
    rows = todo(Path(args.manifest), out, Path(args.pdf_dir), args.base_url, args.scenario)
    print(f"{len(rows)} PDF(s) to download: {out} and {out.with_suffix('.html')}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    """Place browser-downloaded PDFs; exit status 1 when a file was refused or conflicted."""
    from visionscores.acquire.browser import import_folder

    report = import_folder(Path(args.folder), Path(args.manifest), Path(args.pdf_dir))
    for line in report.lines():
        print(line)
    print(
        f"{len(report.placed)} placed, {len(report.already)} already in place, "
        f"{len(report.refused)} refused, {len(report.conflicts)} conflicting, "
        f"{len(report.unmatched)} matching no row"
    )
    if report.placed:
        print("Run the workflow again (e.g. `snakemake --cores 2`) to use them.")
    return 1 if report.refused or report.conflicts else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visionscores", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    seg = commands.add_parser("segment", help="find the systems of a PDF or image page")
    seg.add_argument("path", help="a PDF or an image file")
    seg.add_argument("--page", type=int, help="1-based page of a PDF (default: all)")
    seg.add_argument(
        "--dpi",
        type=float,
        help="resolution of vector pages, dots per inch (default: the config's render.dpi;"
        " a scan keeps its own pixels)",
    )
    seg.add_argument("--json", action="store_true", help="print the contract JSON")
    seg.add_argument(
        "--config",
        default="config/config.yaml",
        help="workflow config whose render, clean and segment sections are used"
        " (default: %(default)s)",
    )
    seg.set_defaults(handler=_cmd_segment)

    stage = commands.add_parser("stage", help="run one workflow stage (the rules call these)")
    stages = stage.add_subparsers(dest="stage", required=True)

    def add_stage(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = stages.add_parser(name, help=help_text)
        sub.add_argument("--piece", default="", help="piece_id (named in messages)")
        sub.set_defaults(handler=handler)
        return sub

    sub = add_stage("acquire", _stage_acquire, "copy or download a piece's PDF")
    sub.add_argument("--manifest", required=True)
    sub.add_argument("--repo-root", required=True)
    sub.add_argument("--out", required=True)
    sub.add_argument("--policy", required=True, help="JSON file of download settings")
    sub = add_stage(
        "acquired", _stage_acquired, "list the pieces whose PDF is in place, from their records"
    )
    sub.add_argument("--records", nargs="*", default=[], help="acquire record per piece")
    sub.add_argument("--out", required=True, help="JSON file to write")
    sub = add_stage("enrich", _stage_enrich, "work-page metadata from IMSLP (key, opus, year)")
    sub.add_argument("--manifest", required=True)
    sub.add_argument("--scenario", required=True)
    sub.add_argument("--policy", required=True, help="JSON file of download settings")
    sub.add_argument("--cache-dir", required=True)
    sub.add_argument("--out", required=True)
    sub = add_stage("segment", _stage_segment, "render, clean and segment a piece's pages")
    sub.add_argument("--record", required=True, help="the acquire record (PDF beside it)")
    sub.add_argument("--pages-out", required=True, help="pages folder to write")
    sub.add_argument("--systems-out", required=True, help="candidate systems (Parquet)")
    sub.add_argument("--render", type=_json_arg, required=True, help="config render, JSON")
    sub.add_argument("--clean", type=_json_arg, required=True, help="config clean, JSON")
    sub.add_argument("--segment", type=_json_arg, required=True, help="config segment, JSON")
    sub.add_argument("--movements", type=_json_arg, required=True, help="config movements, JSON")
    sub.add_argument(
        "--key-signature", type=_json_arg, required=True, help="config key_signature, JSON"
    )
    sub = add_stage("judge", _stage_judge, "keep or reject each candidate")
    sub.add_argument("--systems", required=True)
    sub.add_argument("--out", required=True)
    sub.add_argument("--thresholds", type=_json_arg, required=True, help="config judge, JSON")
    sub = add_stage("format", _stage_format, "cut kept systems into sample images")
    sub.add_argument("--judged", required=True)
    sub.add_argument("--pages", required=True, help="the piece's pages folder")
    sub.add_argument("--images", required=True)
    sub.add_argument("--out", required=True)
    sub.add_argument("--dataset-dir", required=True)
    sub.add_argument("--params", type=_json_arg, required=True, help="config format, JSON")
    sub.add_argument("--crops", help="also write kept systems at native resolution here")
    sub.add_argument("--full-pages", help="also place the piece's deskewed pages here")
    sub = add_stage("publish", _stage_publish, "write a scenario's metadata tables")
    sub.add_argument("--scenario", required=True)
    sub.add_argument("--manifest", required=True)
    sub.add_argument("--judged", nargs="*", default=[])
    sub.add_argument("--formatted", nargs="*", default=[])
    sub.add_argument("--pages", nargs="*", default=[], help="pages folder per piece")
    sub.add_argument(
        "--records", nargs="*", default=[], help="acquire record per piece (its failures)"
    )
    sub.add_argument("--works", help="enrich's work-page metadata (JSON), if enabled")
    sub.add_argument("--out-dir", required=True)
    sub = add_stage("export", _stage_export, "splits, near-duplicates, hub shards and card")
    sub.add_argument("--metadata", required=True, help="the scenario's metadata.parquet")
    sub.add_argument("--rejected", required=True, help="the scenario's rejected.parquet")
    sub.add_argument("--pages", nargs="*", default=[], help="pages folder per piece")
    sub.add_argument("--records", nargs="*", default=[], help="acquire record per piece")
    sub.add_argument("--dataset-dir", required=True, help="folder image_path is under")
    sub.add_argument("--out-dir", required=True, help="where data/ and README.md go")
    sub.add_argument("--params", type=_json_arg, required=True, help="config export, JSON")
    sub.add_argument("--format", type=_json_arg, required=True, help="config format, JSON")
    sub = add_stage("report", _stage_report, "figures and tables for snakemake --report")
    sub.add_argument("--metadata", required=True, help="the scenario's metadata.parquet")
    sub.add_argument("--rejected", required=True, help="the scenario's rejected.parquet")
    sub.add_argument("--pages", nargs="*", default=[], help="segment's pages folder per piece")
    sub.add_argument("--judged", nargs="*", default=[], help="judge's parquet per piece")
    sub.add_argument("--records", nargs="*", default=[], help="acquire record per piece")
    sub.add_argument("--thresholds", type=_json_arg, required=True, help="config judge, JSON")
    sub.add_argument("--out-dir", required=True, help="folder for figures and tables")
    sub.add_argument("--dataset-dir", required=True, help="folder image_path is relative to")
    sub.add_argument("--format", type=_json_arg, required=True, help="config format, JSON")
    for option, help_text in (
        ("--seed", "seed of every random sample"),
        ("--contact-sheet", "kept systems shown"),
        ("--gallery-per-reason", "rejected systems shown per reason"),
        ("--overlay-pages", "pages drawn with their candidates"),
    ):
        sub.add_argument(option, type=int, required=True, help=f"{help_text} (config report)")

    todo = commands.add_parser(
        "todo", help="list the pieces of a manifest without a usable PDF (CSV and HTML)"
    )
    todo.add_argument("--manifest", required=True, help="the manifest CSV")
    todo.add_argument("--out", required=True, help="CSV to write; an .html is written beside")
    todo.add_argument("--scenario", help="only the rows of this scenario")
    todo.add_argument(
        "--pdf-dir", default="resources/pdf", help="where the PDFs and acquire records are"
    )
    todo.add_argument(
        "--base-url", default="https://imslp.org", help="IMSLP's root for the download links"
    )
    todo.set_defaults(handler=_cmd_todo)

    place = commands.add_parser(
        "import", help="place PDFs downloaded in a browser at resources/pdf/{piece_id}.pdf"
    )
    place.add_argument("folder", help="folder of downloaded PDFs (IMSLP's file names)")
    place.add_argument("--manifest", required=True, help="the manifest CSV")
    place.add_argument(
        "--pdf-dir", default="resources/pdf", help="where the PDFs and acquire records are"
    )
    place.set_defaults(handler=_cmd_import)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from visionscores.errors import VisionscoresError

    try:
        return args.handler(args)
    except VisionscoresError as error:
        piece = getattr(args, "piece", "")
        prefix = f"piece {piece}: " if piece and piece not in str(error) else ""
        print(f"visionscores: error: {prefix}{error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
