# judge: keep or reject each candidate system on its measured features (config judge).


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
