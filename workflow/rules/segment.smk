# segment: each page of a piece rendered, cleaned (flattened, deskewed) and segmented in
# memory into candidate systems with geometry, measured features, movement and key signature.


rule segment:
    input:
        record=rules.acquire.output.record,
    output:
        pages=directory(f"{RESULTS}/pages/{{piece}}"),
        systems=f"{RESULTS}/systems/{{piece}}.parquet",
    log:
        f"{RESULTS}/logs/segment/{{piece}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/segment/{{piece}}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=segment_mem_mb,
    params:
        render=as_json("render"),
        clean=as_json("clean"),
        segment=as_json("segment"),
        movements=as_json("movements"),
        key_signature=as_json("key_signature"),
        # Reruns everything after acquire when the package's outputs change shape.
        outputs_version=OUTPUTS_VERSION,
    shell:
        "visionscores stage segment --piece {wildcards.piece} --record {input.record:q}"
        " --pages-out {output.pages:q} --systems-out {output.systems:q}"
        " --render {params.render:q} --clean {params.clean:q} --segment {params.segment:q}"
        " --movements {params.movements:q} --key-signature {params.key_signature:q}"
        " > {log:q} 2>&1"
