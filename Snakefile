# visionscores: two-handed piano scores (PDF) → a system-segmented image dataset.
# The data flow: acquire → segment (render, clean and segment each page, in
# memory) → judge → format → publish → export.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default lives beside this file, wherever the working directory is.
configfile: f"{workflow.basedir}/config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/judge.smk"
include: "workflow/rules/format.smk"
include: "workflow/rules/publish.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        dataset_outputs,
        export_outputs,
        report_outputs(),


# At the start of a run: the download policy the acquire jobs read, and which hosts are not
# asked (daily cap, unreachable) and until when (a job setting a new marker says it then).
onstart:
    write_download_policy()
    announce_host_markers()


onsuccess:
    print_failures(f"{DATASET}/failures.csv")
