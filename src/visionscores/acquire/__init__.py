"""The acquire stage: manifest, polite downloads from IMSLP, and work-page metadata.

Modules, one concern each:

* ``manifest``: the manifest CSV, read and validated (one reader for the workflow and jobs);
* ``errors``: why a PDF could not be fetched, one class per cause;
* ``policy``: the download settings (``DownloadPolicy``);
* ``pacing``: the per-host lock and interval shared by every process;
* ``http``: the one paced, retrying GET every fetch goes through;
* ``protocol``: a pure classifier of IMSLP's answers (next step or failure cause);
* ``download``: one PDF by file index or URL: resume, validation, provenance record;
* ``work_pages``: work metadata from IMSLP's work pages (optional enrich stage);
* ``stage``: the acquire and enrich stage functions the workflow's rules call.
"""
