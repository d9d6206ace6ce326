# export: Hugging Face shards, splits, near-duplicates and the dataset card of a scenario.
EXPORT = config["export"]
EXPORT_DATASET_PARAMS = json.dumps(
    {
        key: EXPORT[key]
        for key in (
            "split_fractions",
            "split_seed",
            "near_duplicate_max_hamming",
            "rows_per_shard",
        )
    },
    sort_keys=True,
    separators=(",", ":"),
)


rule export:
    input:
        metadata=rules.publish.output.metadata,
        rejected=rules.publish.output.rejected,
        records=per_piece(rules.acquire.output.record),
        acquired=rules.acquired.output.pieces,
        images=per_acquired_piece(rules.format.output.images),
        pages=per_acquired_piece(rules.segment.output.pages),
    output:
        data=directory(f"{DATASET}/hub/data"),
        card=f"{DATASET}/hub/README.md",
        splits=f"{DATASET}/hub/splits.parquet",
        near_duplicates=f"{DATASET}/hub/near_duplicates.parquet",
        near_duplicates_csv=f"{DATASET}/hub/near_duplicates.csv",
    log:
        f"{RESULTS}/logs/export/{SCENARIO}.log",
    benchmark:
        f"{RESULTS}/benchmarks/export/{SCENARIO}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=1000,
    params:
        export=EXPORT_DATASET_PARAMS,
        format=as_json("format"),
        dataset_dir=lambda wildcards, input: Path(input.metadata).parent,
        out_dir=lambda wildcards, output: Path(output.card).parent,
    shell:
        "visionscores stage export --metadata {input.metadata:q}"
        " --rejected {input.rejected:q} --pages {input.pages:q} --records {input.records:q}"
        " --dataset-dir {params.dataset_dir:q} --out-dir {params.out_dir:q}"
        " --params {params.export:q} --format {params.format:q} > {log:q} 2>&1"
