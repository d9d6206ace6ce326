# acquire: a local copy (checksum checked), a PDF already in place, or a download.
# The record says how it went; a failure is recorded there and passed on, not raised.


# Downloads run on the submitting host: compute nodes often have no internet, and the
# per-host pacing lock (resources/.pace) is most reliable on one machine.
localrules:
    acquire,
    acquired,
    enrich,
    todo,


rule acquire:
    output:
        record=f"{RESOURCES}/pdf/{{piece}}.json",
    log:
        f"{RESULTS}/logs/acquire/{{piece}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/acquire/{{piece}}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    # A download waits on the network and on the per-host pacing lock, not on a core: it
    # takes none, so segment jobs keep every core; `downloads` (set in the profile) bounds
    # how many download processes run at once.
    threads: 0
    resources:
        mem_mb=300,
        downloads=1,
    params:
        manifest=MANIFEST,
        repo=REPO,
        policy=download_policy_file(),
        # Manifest fields are read by the command from the manifest itself (never through
        # the shell); they are params so that editing one piece's row reruns that piece.
        source=piece_field("source"),
        file_index=piece_field("imslp_file_index"),
        sha256=piece_field("sha256"),
    shell:
        "visionscores stage acquire --piece {wildcards.piece} --manifest {params.manifest:q}"
        " --repo-root {params.repo:q} --out {output.record:q} --policy {params.policy:q}"
        # Standard error (waits, unreachable hosts, the daily cap) also reaches the console.
        " > {log:q} 2> >(tee -a {log:q} >&2)"


# acquired: the scenario's pieces whose PDF is in place, once every piece was tried. A
# checkpoint: only these pieces get segment, judge and format jobs, while a piece that failed
# at acquire goes straight to publish's failures table (its record says why). One checkpoint
# for the scenario, not one per piece: Snakemake re-plans the DAG after each checkpoint job,
# once per piece a cost growing with the square of the pieces. The rules reading the list
# (per_acquired_piece) also take it as a plain input, so that they are re-planned whenever
# it is made again.
checkpoint acquired:
    input:
        records=per_piece(rules.acquire.output.record),
    output:
        pieces=f"{RESULTS}/acquired/{SCENARIO}.json",
    log:
        f"{RESULTS}/logs/acquired/{SCENARIO}.log",
    benchmark:
        f"{RESULTS}/benchmarks/acquired/{SCENARIO}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    resources:
        mem_mb=200,
    shell:
        "visionscores stage acquired --records {input.records:q} --out {output.pieces:q}"
        " > {log:q} 2>&1"


# enrich (optional, imslp.enrich): work-page metadata (key, opus, year, style,
# instrumentation) from IMSLP's MediaWiki API, fetched once per work and cached.
rule enrich:
    input:
        manifest=MANIFEST,
    output:
        works=f"{RESULTS}/imslp/{SCENARIO}.works.json",
    log:
        f"{RESULTS}/logs/enrich/{SCENARIO}.log",
    benchmark:
        f"{RESULTS}/benchmarks/enrich/{SCENARIO}.tsv"
    conda:
        "../../envs/visionscores.yaml"
    params:
        scenario=SCENARIO,
        policy=download_policy_file(),
        cache=f"{RESOURCES}/imslp/works",
    shell:
        "visionscores stage enrich --manifest {input.manifest:q} --scenario {params.scenario}"
        " --policy {params.policy:q} --cache-dir {params.cache:q} --out {output.works:q}"
        " > {log:q} 2>&1"


# todo (`snakemake todo`): the scenario's pieces without a usable PDF, with their IMSLP
# links and why each is missing, as CSV and HTML, for downloading them in a browser
# (then `visionscores import`). It reads the records as they are and always runs when named:
# it has no output and no `benchmark:`, since Snakemake takes a benchmark file for an output
# and would not run the rule again once the file exists.
rule todo:
    log:
        f"{RESULTS}/logs/todo/{SCENARIO}.log",
    conda:
        "../../envs/visionscores.yaml"
    params:
        manifest=MANIFEST,
        scenario=SCENARIO,
        pdf_dir=f"{RESOURCES}/pdf",
        base_url=config["imslp"]["base_url"],
        out=f"{RESULTS}/todo/{SCENARIO}.csv",
    shell:
        "visionscores todo --manifest {params.manifest:q} --scenario {params.scenario:q}"
        " --pdf-dir {params.pdf_dir:q} --base-url {params.base_url:q} --out {params.out:q}"
        " 2> {log:q}"
