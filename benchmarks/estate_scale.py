"""How Civic's estate-as-code scales: validate, plan and apply an estate of N environments.

    python benchmarks/estate_scale.py [--environments 1500] [--teams 300] [--state URL]

Generates an estate like the MoJ's (1,466 namespaces on its live cluster) in a temporary
folder, then measures, each as `civic` commands run as a user would (a new process each):
cold validate, and cold validate + plan (`civic plan`) against an empty store, with no memo
of earlier commands (civic.control.memo: a fresh cache folder, as on a CI runner); apply of
everything; plan, and apply, after changing one environment (the memo now warm, as on a
reviewer's machine or the platform's own); and the peak memory of each. Then the same
inside one long-running process, as `civic up` applies a change it finds in the estate.
Prints a table of what it measured.
Targets (issue 2): cold validate + plan < 2 s; one change planned and applied < 0.5 s;
peak memory < 300 MB.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

BUSINESS_UNITS = ["HMPPS", "LAA", "OPG", "HQ", "HMCTS", "CICA", "Platforms", "Central Digital"]
STAGES = [
    ("dev", "development", False),
    ("staging", "staging", False),
    ("preprod", "preproduction", False),
    ("prod", "production", True),
]


def generate(root: str, *, environments: int, teams: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    os.makedirs(os.path.join(root, "teams"))
    os.makedirs(os.path.join(root, "environments"))
    _write(
        os.path.join(root, "civic.yaml"),
        {
            "apiVersion": "civic/v1",
            "kind": "Platform",
            "metadata": {"name": "bench"},
            "spec": {"baseDomain": "localhost", "domains": ["service.justice.gov.uk"], "businessUnits": BUSINESS_UNITS},
        },
    )
    team_names = [f"team-{i:04d}" for i in range(teams)]
    for name in team_names:
        _write(
            os.path.join(root, "teams", f"{name}.yaml"),
            {
                "apiVersion": "civic/v1",
                "kind": "Team",
                "metadata": {"name": name},
                "spec": {
                    "email": f"{name}@justice.gov.uk",
                    "githubTeams": [name],
                    "channels": [{"name": "alerts", "slack": {"channel": f"#{name}", "webhookUrlSecret": "slack"}}],
                },
            },
        )
    for i in range(environments):
        app = f"app-{i // len(STAGES):04d}"
        suffix, stage, production = STAGES[i % len(STAGES)]
        name = f"{app}-{suffix}"
        team = team_names[(i // len(STAGES)) % teams]
        spec = {
            "team": team,
            "businessUnit": rng.choice(BUSINESS_UNITS),
            "application": f"Application {app}",
            "owner": f"{team}: {team}@justice.gov.uk",
            "sourceCode": f"https://github.com/moj/{app}",
            "teamChannel": f"#{team}",
            "production": production,
            "environmentName": stage,
            "reviewAfter": "2027-06-30",
            "access": [{"team": team}],
            "quota": {"services": 5, "replicas": 10, "cpu": "4", "memory": "8Gi"},
            "backingServices": {"db": {"type": "postgres", "class": "small"}, "cache": {"type": "redis"}},
            "secrets": ["api-key"],
            "variables": {"DATABASE_URL": "${services.db.url}", "API_KEY": "${secrets.api-key}"},
        }
        if production:
            spec["hosts"] = [f"{app}.service.justice.gov.uk"]
        folder = os.path.join(root, "environments", name)
        os.makedirs(folder)
        _write(
            os.path.join(folder, "environment.yaml"),
            {"apiVersion": "civic/v1", "kind": "Environment", "metadata": {"name": name}, "spec": spec},
        )


def _write(path: str, value: dict) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(value, f, sort_keys=False)


CACHE = tempfile.mkdtemp(prefix="civic-bench-cache-")


def forget_memo() -> None:
    """As on a fresh machine: no memo of earlier commands."""
    shutil.rmtree(CACHE, ignore_errors=True)
    os.makedirs(CACHE)


def civic(*args: str) -> tuple[float, float, str]:
    """Run `civic ARGS` in a new process; return seconds, peak MB of that process, output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", "from civic.cli.main import run; run()", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "XDG_CACHE_HOME": CACHE},
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"civic {' '.join(args)} failed:\n{result.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024, result.stdout


def in_process(root: str, state: str) -> tuple[float, float]:
    """Inside one long-running process, as `civic up`'s estate sync does it (apply on merge):
    the first look at a new commit (every file parsed), then one more commit that changes one
    environment, read from git, validated, judged, planned and applied."""
    from civic.control import syncing
    from civic.store.state import StateStore

    git = ["git", "-C", root, "-c", "user.name=bench", "-c", "user.email=bench@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    with open(os.path.join(root, ".gitignore"), "w") as f:
        f.write(".civic/\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "the estate"], check=True)
    store = StateStore(state)
    sync = syncing.EstateSync(root, store, interval=2.0, on_applied=lambda *_: None)
    _change_one(root, "#first-look")
    subprocess.run([*git, "commit", "-qam", "a change"], check=True)
    start = time.perf_counter()
    assert sync.check(), sync.status.error
    cold = time.perf_counter() - start
    _change_one(root, "#changed-again")
    subprocess.run([*git, "commit", "-qam", "another change"], check=True)
    start = time.perf_counter()
    assert sync.check(), sync.status.error
    change = time.perf_counter() - start
    assert sync.status.summary["update"] == 1
    store.close()
    return cold, change


def _change_one(root: str, channel: str) -> None:
    path = os.path.join(root, "environments", "app-0007-staging", "environment.yaml")
    with open(path) as f:
        doc = yaml.safe_load(f)
    doc["spec"]["teamChannel"] = channel
    _write(path, doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environments", type=int, default=1500)
    parser.add_argument("--teams", type=int, default=300)
    parser.add_argument("--state", help="a store URL (default: SQLite in the estate)")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="civic-bench-")
    try:
        generate(root, environments=args.environments, teams=args.teams)
        state = args.state or os.path.join(root, ".civic", "state.db")
        rows = []
        forget_memo()
        t, mb, _ = civic("validate", "--estate", root)
        rows.append(("cold validate (new process)", t, mb))
        forget_memo()
        t, mb, out = civic("plan", "--estate", root, "--state", state)
        assert f"{args.environments} to create" in out.replace(
            f"{args.environments + args.teams + 1} to create", f"{args.environments} to create"
        )
        rows.append(("cold validate + plan (new process)", t, mb))
        t, mb, _ = civic("apply", "--estate", root, "--state", state)
        rows.append(("apply everything (new process)", t, mb))
        _change_one(root, "#changed")
        t1, mb1, out = civic("plan", "--estate", root, "--state", state)
        assert "1 to update" in out
        t2, mb2, _ = civic("apply", "--estate", root, "--state", state)
        rows.append(("one change: plan (new process)", t1, mb1))
        rows.append(("one change: apply (new process)", t2, mb2))
        cold, change = in_process(root, state)
        rows.append(("civic up, first look at a commit (in process)", cold, None))
        rows.append(("civic up, one change committed: applied (in process)", change, None))
        print(
            f"estate: {args.environments} environments, {args.teams} teams; store: "
            f"{'SQLite' if not args.state else args.state.split(':')[0]}; python {sys.version.split()[0]}"
        )
        print(f"{'measure':52} {'seconds':>8} {'peak MB':>8}")
        for name, seconds, peak in rows:
            print(f"{name:52} {seconds:8.3f} {'-' if peak is None else round(peak):>8}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(CACHE, ignore_errors=True)


if __name__ == "__main__":
    main()
