# publish: a scenario's tables (metadata, rejected, failures, pages), Parquet and CSV.


rule publish:
    input:
        manifest=MANIFEST,
        records=per_piece(rules.acquire.output.record),
        acquired=rules.acquired.output.pieces,
        judged=per_acquired_piece(rules.judge.output.judged),
        samples=per_acquired_piece(rules.format.output.samples),
        pages=per_acquired_piece(rules.segment.output.pages),
        works=works_metadata(),
    output:
        metadata=f"{DATASET}/metadata.parquet",
        metadata_csv=f"{DATASET}/metadata.csv",
        rejected=f"{DATASET}/rejected.parquet",
        rejected_csv=f"{DATASET}/rejected.csv",
        failures=f"{DATASET}/failures.parquet",
        failures_csv=f"{DATASET}/failures.csv",
        pages=f"{DATASET}/pages.parquet",
        pages_csv=f"{DATASET}/pages.csv",
    log:
        f"{RESULTS}/logs/publish/{SCENARIO}.log",
    benchmark:
        f"{RESULTS}/benchmarks/publish/{SCENARIO}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=1000,
    params:
        scenario=SCENARIO,
        out_dir=lambda wildcards, output: Path(output.metadata).parent,
        works=works_option,
    shell:
        "visionscores stage publish --scenario {params.scenario} --manifest {input.manifest:q}"
        " --records {input.records:q} --judged {input.judged:q}"
        " --formatted {input.samples:q} --pages {input.pages:q}"
        " --out-dir {params.out_dir:q} {params.works}"
        " > {log:q} 2>&1"
