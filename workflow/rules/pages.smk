# render: PDF pages to gray page images; clean: deskew and binarize them.


rule render:
    input:
        record=rules.acquire.output.record,
    output:
        pages=directory(f"{RESULTS}/pages/{{piece}}"),
    log:
        f"{RESULTS}/logs/render/{{piece}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/render/{{piece}}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=800,
    params:
        dpi=config["render"]["dpi"],
        max_pages=config["render"]["max_pages"],
        max_pixels=config["render"]["max_pixels_per_page"],
        # Reruns everything after acquire when the package's outputs change shape.
        outputs_version=OUTPUTS_VERSION,
    shell:
        "visionscores stage render --piece {wildcards.piece} --record {input.record:q}"
        " --out {output.pages:q} --dpi {params.dpi} --max-pages {params.max_pages}"
        " --max-pixels {params.max_pixels} > {log:q} 2>&1"


rule clean:
    input:
        pages=rules.render.output.pages,
    output:
        clean=directory(f"{RESULTS}/clean/{{piece}}"),
    log:
        f"{RESULTS}/logs/clean/{{piece}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/clean/{{piece}}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=800,
    params:
        clean=as_json("clean"),
    shell:
        "visionscores stage clean --piece {wildcards.piece} --pages {input.pages:q}"
        " --out {output.clean:q} --params {params.clean:q} > {log:q} 2>&1"
