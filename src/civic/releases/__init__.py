"""Releases, the client's half: a service's folder made ready to upload.

    files       bounded reads of a folder's files, regular files only
    ignoring    what stays behind: always-left-out folders, .gitignore files, .civicignore
    packing     the folder as a deterministic .tar.gz and its sha256 digest; secrets refused
    detection   a civic.service.yaml derived from a Procfile, Python or Node conventions

Layer: beside the backends, above spec (detection checks its names with civic.spec.models),
below control and cli. ``civic deploy`` (civic.cli.deploy) packs and derives; ``civic up
--deploy`` (civic.control.plane) packs. Nothing here runs the folder's code.
"""
