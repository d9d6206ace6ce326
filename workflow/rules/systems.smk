# segment: candidate systems with geometry and measured features; judge: keep or reject.


rule segment:
    input:
        clean=rules.clean.output.clean,
    output:
        systems=f"{RESULTS}/systems/{{piece}}.parquet",
        pages=f"{RESULTS}/systems/{{piece}}.pages.json",
    log:
        f"{RESULTS}/logs/segment/{{piece}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/segment/{{piece}}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=800,
    params:
        segment=as_json("segment"),
    shell:
        "visionscores stage segment --piece {wildcards.piece} --clean {input.clean:q}"
        " --out {output.systems:q} --pages-out {output.pages:q} --params {params.segment:q}"
        " > {log:q} 2>&1"


rule judge:
    input:
        systems=rules.segment.output.systems,
    output:
        judged=f"{RESULTS}/judged/{{piece}}.parquet",
    log:
        f"{RESULTS}/logs/judge/{{piece}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/judge/{{piece}}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=300,
    params:
        thresholds=as_json("judge"),
    shell:
        "visionscores stage judge --piece {wildcards.piece} --systems {input.systems:q}"
        " --out {output.judged:q} --thresholds {params.thresholds:q} > {log:q} 2>&1"
