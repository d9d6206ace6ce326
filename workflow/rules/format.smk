# format: kept systems to sample images (config format; and, by config export, at native
# resolution, and the full pages).


rule format:
    input:
        judged=rules.judge.output.judged,
        pages=rules.segment.output.pages,
    output:
        **auxiliary_image_outputs(),
        images=directory(f"{DATASET}/images/{{piece}}"),
        samples=f"{RESULTS}/formatted/{{piece}}.parquet",
    log:
        f"{RESULTS}/logs/format/{{piece}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/format/{{piece}}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=800,
    params:
        format=as_json("format"),
        dataset=lambda wildcards, output: Path(output.images).parent.parent,
        auxiliary=auxiliary_image_options,
    shell:
        "visionscores stage format --piece {wildcards.piece} --judged {input.judged:q}"
        " --pages {input.pages:q} --images {output.images:q} --out {output.samples:q}"
        " --dataset-dir {params.dataset:q} --params {params.format:q} {params.auxiliary}"
        " > {log:q} 2>&1"
