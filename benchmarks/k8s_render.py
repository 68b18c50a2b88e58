"""Figures for the Kubernetes backend: rendering and validation at scale, and apply cost.

1. Render and validate 1,500 environments with 3 services each: seconds to render,
   seconds to validate every object (strict official schemas at the oldest and newest
   supported Kubernetes version; CRD schemas), objects per second.
2. API requests for an apply where N environments changed in a 1,500-environment
   cluster (the FAKE cluster of tests/kubernetes/fakecluster.py on loopback; seeded
   in-process as a full apply would leave it): it must grow with N, not with the estate.
   As ``civic cluster apply`` does for the whole cluster, the apply includes the
   admission policies (their platform ApplySet, unchanged: one GET of its parent);
   then one policy is turned off, which costs requests in proportion to the policies.

Run: python benchmarks/k8s_render.py [--environments 1500] [--one-version]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "kubernetes"))

import fakecluster

from civic import policy
from civic.backends import base
from civic.backends.kubernetes import admission, cluster, inputs, rendering, targets, validation
from civic.backends.kubernetes import client as client_mod
from civic.spec import estate as estate_mod
from civic.spec import models

TARGET = models.Cluster(name="bench", base_domain="apps.example.gov.uk")
ESTATE = os.path.join(ROOT, "examples", "estate")


def desired_states(count: int) -> list[base.DesiredEnvironment]:
    estate = estate_mod.load(ESTATE)
    template = estate.environments["laa-apply-production"]
    web = inputs.load_service(os.path.join(ROOT, "examples", "kubernetes", "web.service.yaml"))
    worker = inputs.load_service(os.path.join(ROOT, "examples", "kubernetes", "worker.service.yaml"))
    api = web.model_copy(update={"metadata": web.metadata.model_copy(update={"name": "api"})})
    out = []
    for i in range(count):
        name = f"env-{i:04d}"
        env = template.model_copy(update={"metadata": template.metadata.model_copy(update={"name": name})})
        revisions = tuple(
            base.ServiceRevision(environment=name, name=s.metadata.name, revision=1, spec=s.spec)
            for s in (web, worker, api)
        )
        out.append(
            base.DesiredEnvironment(
                name, estate.platform, env, revisions, teams={"laa-apply": estate.teams["laa-apply"]}
            )
        )
    return out


def seed(fake: fakecluster.FakeCluster, renders: list[rendering.Rendered]) -> None:
    """What a complete apply leaves on the cluster, written in-process (no HTTP) to save time."""
    for rendered in renders:
        for obj in rendered.objects():
            meta = obj["metadata"]
            fake.apply(
                (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]),
                obj,
                manager="civic",
                force=True,
                dry_run=False,
            )


async def apply_all(
    fake: fakecluster.FakeCluster, kubeconfig: str, renders: list[rendering.Rendered], policies: admission.Admission
) -> tuple[int, float, list[cluster.Report]]:
    api = client_mod.Client.from_kubeconfig(kubeconfig)
    start = time.perf_counter()
    try:
        reports = await cluster.sync_estate(api, [(r, True) for r in renders], policies=policies)
        return api.requests, time.perf_counter() - start, reports
    finally:
        await api.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--environments", type=int, default=1500)
    parser.add_argument("--one-version", action="store_true", help="validate at the newest version only")
    args = parser.parse_args()
    states = desired_states(args.environments)

    start = time.perf_counter()
    renders = [rendering.render(d, TARGET) for d in states]
    render_s = time.perf_counter() - start
    objects = [o for r in renders for o in r.objects()]
    versions = (targets.NEWEST,) if args.one_version else (targets.OLDEST, targets.NEWEST)
    start = time.perf_counter()
    wrong = validation.check_all(objects, versions)
    validate_s = time.perf_counter() - start
    print(
        f"render: {len(renders)} environments x 3 services = {len(objects)} objects in {render_s:.2f} s "
        f"({len(objects) / render_s:,.0f} objects/s)"
    )
    print(
        f"validate: {len(objects) * len(versions)} validations (strict, Kubernetes {', '.join(versions)}) "
        f"in {validate_s:.2f} s ({len(objects) * len(versions) / validate_s:,.0f}/s); problems: {len(wrong)}"
    )
    print(f"render + validate: {render_s + validate_s:.2f} s")

    policies = admission.render(policy.policy_set(estate_mod.load(ESTATE)), TARGET)
    fake = fakecluster.FakeCluster()
    url = fake.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = fake.kubeconfig(tmp, url)
            start = time.perf_counter()
            seed(fake, renders + [rendering.admission_set(policies.objects)])
            print(f"seeded the FAKE cluster with {len(fake.objects)} objects in {time.perf_counter() - start:.1f} s")
            for changed in (0, 1, 10):
                for i in range(changed):
                    env = states[i].environment
                    bumped = env.model_copy(
                        update={
                            "spec": env.spec.model_copy(
                                update={"variables": env.spec.variables | {"BUMP": str(time.time())}}
                            )
                        }
                    )
                    renders[i] = rendering.render(
                        base.DesiredEnvironment(
                            states[i].name, states[i].platform, bumped, states[i].services, teams=states[i].teams
                        ),
                        TARGET,
                    )
                requests, seconds, reports = asyncio.run(apply_all(fake, kubeconfig, renders, policies))
                applied = sum(1 for r in reports if not r.skipped and not r.platform)
                print(
                    f"apply with {changed:>2} changed environment(s) of {len(renders)} and "
                    f"{len(policies.objects)} unchanged admission objects: {requests} API requests "
                    f"({applied} environment(s) applied, {seconds:.2f} s)"
                )
            fewer = admission.Admission(policies.objects[2:], policies.skipped)  # one policy turned off
            requests, seconds, _ = asyncio.run(apply_all(fake, kubeconfig, renders, fewer))
            print(
                f"apply with one admission policy turned off ({len(fewer.objects)} admission objects left): "
                f"{requests} API requests ({seconds:.2f} s)"
            )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
