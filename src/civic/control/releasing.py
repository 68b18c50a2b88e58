"""Build, release, run: uploaded archives, the build before each deploy, and what is kept.

A client packs a service's folder (:mod:`civic.releases.packing`) and uploads the archive
by its digest; :class:`Artifacts` keeps it in the control plane's own folder
(``<estate>/.civic/artifacts/<hex>.tar.gz``, 0600, root's), after checking the bytes
match the digest and stay under :data:`MAX_ARCHIVE`. :func:`build` asks the backend's
:class:`~civic.backends.base.Builder` to make a release of it, recording the build and its
output; a failed build raises :class:`~civic.errors.BuildFailed` and nothing else changes,
so the running revision keeps serving. :func:`prune` keeps the newest
``civic.yaml``'s ``releases.keep`` releases of a service (and any a current revision
runs) and removes the rest, and archives no kept build needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator

from civic.backends import base
from civic.errors import BuildFailed, CivicError, NotFound, UsageError
from civic.spec import models
from civic.store import deployments
from civic.store import releases as release_records

log = logging.getLogger("civic.releases")

MAX_ARCHIVE = 256 << 20
"""The largest archive accepted (compressed); the client refuses more than 256 MiB unpacked first."""
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def check_digest(digest: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise UsageError(f"'{digest[:80]}' is not an archive digest; it is 'sha256:' and 64 hex digits.")
    return digest


def new_build_id() -> str:
    return "bld_" + secrets.token_hex(6)


class Artifacts:
    """The uploaded archives, one file per digest, in a folder only Civic's user reads."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        return f"Artifacts(folder={self.folder!r})"

    def path(self, digest: str) -> str:
        return os.path.join(self.folder, check_digest(digest).removeprefix("sha256:") + ".tar.gz")

    def exists(self, digest: str) -> bool:
        return os.path.isfile(self.path(digest))

    @contextlib.asynccontextmanager
    async def receiving(self, digest: str) -> AsyncIterator[_Upload]:
        """Write an upload of ``digest``: the file is kept only if every byte arrived and matches."""
        check_digest(digest)
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=".upload-", dir=self.folder)
        upload = _Upload(os.fdopen(fd, "wb"), digest)
        try:
            yield upload
            upload.file.close()
            found = "sha256:" + upload.hash.hexdigest()
            if found != digest:
                raise UsageError(
                    f"the archive's bytes have the digest {found}, not {digest}; upload it again "
                    "(the client computes the digest of what it sends)."
                )
            os.replace(partial, self.path(digest))
        finally:
            upload.file.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)

    def remove(self, digests: set[str]) -> None:
        for digest in digests:
            with contextlib.suppress(FileNotFoundError, UsageError):
                os.unlink(self.path(digest))


class _Upload:
    def __init__(self, file: io.BufferedWriter, digest: str) -> None:
        self.file = file
        self.digest = digest
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_ARCHIVE:
            raise UsageError(
                f"the archive is larger than {MAX_ARCHIVE >> 20} MiB; leave out what the service does not "
                "need to run (a .civicignore file, as .gitignore)."
            )
        self.hash.update(chunk)
        self.file.write(chunk)


class _Tee(io.StringIO):
    """The build's output, kept whole for the record and logged line by line at debug level."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            log.debug("build: %s", line)
        return super().write(text)


def build(
    builder: base.Builder,
    records: release_records.Releases,
    artifacts: Artifacts,
    *,
    environment: str,
    service: models.Service,
    artifact: str,
    by: str,
) -> tuple[str, base.BuildResult]:
    """Build ``artifact`` for ``service``; the build id and result, or BuildFailed (recorded)."""
    name = service.metadata.name
    if not records.has_artifact(artifact, environment) or not artifacts.exists(artifact):
        raise NotFound(
            f"environment '{environment}' has no uploaded archive {artifact}; upload it first "
            "('civic deploy ENV FOLDER' uploads and deploys in one step)."
        )
    build_id = new_build_id()
    records.start_build(build_id, environment=environment, service=name, artifact=artifact, by=by)
    output = _Tee()
    started = time.monotonic()
    request = base.BuildRequest(environment, name, build_id, artifact, artifacts.path(artifact), service.spec)
    try:
        result = builder.build(request, output)
    except CivicError as e:
        message = str(e) if isinstance(e, BuildFailed) else f"the build could not run: {e}"
        records.finish_build(
            build_id, status="failed", log=output.getvalue(), message=message, seconds=time.monotonic() - started
        )
        raise BuildFailed(f"build {build_id} of {environment}/{name} failed: {message}") from e
    except BaseException:
        records.finish_build(
            build_id,
            status="failed",
            log=output.getvalue(),
            message="the build stopped",
            seconds=time.monotonic() - started,
        )
        raise
    records.finish_build(
        build_id,
        status="succeeded",
        log=output.getvalue(),
        message=f"{result.kind}{' (cached)' if result.cached else ''}",
        kind=result.kind,
        cached=result.cached,
        size=result.size,
        seconds=result.seconds,
    )
    return build_id, result


def prune(
    builder: base.Builder,
    records: release_records.Releases,
    revisions: deployments.Deployments,
    artifacts: Artifacts,
    *,
    environment: str,
    service: str,
    keep: int,
) -> list[str]:
    """Keep the newest ``keep`` releases of ``service`` and the one it runs now; remove the rest.
    The build ids removed."""
    kept: set[str] = set()
    for revision in revisions.revisions(environment, service):  # newest first
        if revision.release and len(kept) < keep:
            kept.add(revision.release)
    with contextlib.suppress(NotFound):
        current = revisions.current_of(environment, service)
        running = revisions.revision(environment, service, current.revision).release
        if running:
            kept.add(running)
    recorded = records.builds(environment, service, limit=1000)
    building = {b.id for b in recorded if b.status == "building"}
    removed = set(builder.prune(environment, service, kept | building))
    gone = {b.id for b in recorded if b.status == "succeeded" and b.id not in kept}
    records.mark_removed(gone | removed)
    unused = records.artifact_digests() - records.artifacts_in_use() - _recent_uploads(records)
    artifacts.remove(unused)
    records.forget_artifacts(unused)
    return sorted(gone | removed)


def _recent_uploads(records: release_records.Releases) -> set[str]:
    """Archives uploaded in the last hour and not built yet: a deploy may be about to use them."""
    return records.recent_artifacts(since=time.time() - 3600)
