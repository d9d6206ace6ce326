# report: figures and tables of a scenario for `snakemake --report report.html`.
# Built from the published tables and each piece's pages (summaries and cleaned pages) and
# judged candidates; reruns when any of them, or the judge thresholds, change.

REPORT = f"{RESULTS}/report/{SCENARIO}"
REPORT_SETTINGS = config["report"]


rule report_figures:
    input:
        metadata=rules.publish.output.metadata,
        rejected=rules.publish.output.rejected,
        pages=per_acquired_piece(rules.segment.output.pages),
        judged=per_acquired_piece(rules.judge.output.judged),
        records=per_piece(rules.acquire.output.record),
        acquired=rules.acquired.output.pieces,
    output:
        funnel=report(
            f"{REPORT}/funnel.png",
            caption="../report/funnel.rst",
            labels={"figure": "funnel (figure)"},
            category="Dataset",
            subcategory="Funnel",
        ),
        funnel_table=report(
            f"{REPORT}/funnel.html",
            caption="../report/funnel_table.rst",
            labels={"figure": "funnel (table)"},
            category="Dataset",
            subcategory="Funnel",
        ),
        rejections=report(
            f"{REPORT}/rejections.png",
            caption="../report/rejections.rst",
            labels={"figure": "rejections by reason (figure)"},
            category="Quality filter",
            subcategory="Rejections",
        ),
        movements=report(
            f"{REPORT}/movements.html",
            caption="../report/movements.rst",
            labels={"figure": "movements and key signatures (table)"},
            category="Dataset",
            subcategory="Movements",
        ),
        rejections_table=report(
            f"{REPORT}/rejections.html",
            caption="../report/rejections_table.rst",
            labels={"figure": "rejections by reason (table)"},
            category="Quality filter",
            subcategory="Rejections",
        ),
        features=report(
            f"{REPORT}/features.png",
            caption="../report/features.rst",
            labels={"figure": "quality features"},
            category="Quality filter",
            subcategory="Features",
        ),
        contact_sheet=report(
            f"{REPORT}/contact_sheet.png",
            caption="../report/contact_sheet.rst",
            labels={"figure": "random kept systems"},
            category="Images",
            subcategory="Kept systems",
        ),
        rejected_gallery=report(
            f"{REPORT}/rejected_gallery.png",
            caption="../report/rejected_gallery.rst",
            labels={"figure": "rejected systems by reason"},
            category="Images",
            subcategory="Rejected systems",
        ),
        overlays=report(
            directory(f"{REPORT}/overlays"),
            patterns=["{name}.png"],
            caption="../report/overlays.rst",
            labels={"page": "{name}"},
            category="Images",
            subcategory="Pages",
        ),
    log:
        f"{RESULTS}/logs/report/{SCENARIO}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/{SCENARIO}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=1000,
    params:
        thresholds=as_json("judge"),
        format=as_json("format"),
        out_dir=lambda wildcards, output: Path(output.funnel).parent,
        dataset_dir=lambda wildcards, input: Path(input.metadata).parent,
        seed=REPORT_SETTINGS["seed"],
        contact_sheet=REPORT_SETTINGS["contact_sheet"],
        gallery_per_reason=REPORT_SETTINGS["gallery_per_reason"],
        overlay_pages=REPORT_SETTINGS["overlay_pages"],
    shell:
        "visionscores stage report --metadata {input.metadata:q} --rejected {input.rejected:q}"
        " --pages {input.pages:q} --judged {input.judged:q} --records {input.records:q}"
        " --thresholds {params.thresholds:q} --dataset-dir {params.dataset_dir:q}"
        " --out-dir {params.out_dir:q} --seed {params.seed}"
        " --contact-sheet {params.contact_sheet} --gallery-per-reason {params.gallery_per_reason}"
        " --overlay-pages {params.overlay_pages} --format {params.format:q} > {log:q} 2>&1"
