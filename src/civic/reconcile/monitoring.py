"""Monitoring kept in step with the estate and the running services, level-based.

``civic up`` runs one :class:`Monitor`. Every pass it works out, from the store alone,
the whole of what Prometheus and Alertmanager should have (scrape config, one rule file
per environment, target files of the replicas that export metrics, the routing of every
team's alerts), writes only the files whose text changed, and asks the servers to reload
only when their configuration changed: target files are picked up by Prometheus itself.

If the Debian packages are missing, the monitor is *off* (it says which packages to
install) and Civic runs on without it; ``civic status`` says so.

Every file that holds a secret (team webhook URLs, the bearer token Alertmanager sends to
Civic, alertmanager.yml, the servers' password and web config) is mode 0600, in folders only
Civic's user may enter. The servers answer Civic's credentials only (:mod:`civic.observability.stack`);
a team's plain webhook is relayed through Civic (:meth:`Monitor.relay`), so that no URL is
written into Alertmanager's configuration.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import signal
from collections.abc import Callable
from typing import Any

import psutil

from civic import aiotasks
from civic.errors import CivicError, NotFound, Unauthorized
from civic.observability import relay, routing, rules, scrape, stack
from civic.reconcile import desired
from civic.spec import models
from civic.store import state

log = logging.getLogger("civic.monitoring")

INTERVAL = 2.0  # seconds between passes


@dataclasses.dataclass(frozen=True)
class Replica:
    """A running replica whose metrics Prometheus should scrape."""

    environment: str
    service: str
    revision: int
    id: str
    port: int


class Monitor:
    def __init__(
        self,
        ctx: desired.Context,
        *,
        workdir: str,
        ports: stack.Ports,
        api_port: int,
        stats_port: int,
        replicas: Callable[[], list[Replica]],
        service_url: Callable[[str, str], str],
        enabled: bool = True,
        retention: str = "15d",
    ) -> None:
        self.ctx = ctx
        self.workdir = workdir
        self.stack = stack.Stack(workdir=workdir, ports=ports, retention=retention)
        self.api_port = api_port
        self.stats_port = stats_port
        self.replicas = replicas
        self.service_url = service_url
        self.off_reason = "" if enabled else "turned off with --no-monitoring"
        if enabled and stack.missing():
            packages = " ".join(stack.missing())
            self.off_reason = f"the Debian packages {packages} are missing; run 'apt-get install {packages}'"
        self.written: dict[str, str] = {}
        self.task: asyncio.Task | None = None
        self.webhook_token = ""

    @property
    def on(self) -> bool:
        return not self.off_reason

    def describe(self) -> dict[str, Any]:
        if not self.on:
            return {"monitoring": "off", "reason": self.off_reason}
        return {
            "monitoring": "on",
            "prometheus": self.stack.prometheus_url,
            "alertmanager": self.stack.alertmanager_url,
            "pushgateway": self.stack.pushgateway_url,
            "retention": self.stack.retention,
        }

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if not self.on:
            log.warning("monitoring is off: %s", self.off_reason)
            return
        os.makedirs(self.workdir, mode=0o700, exist_ok=True)
        os.chmod(self.workdir, 0o700)  # only Civic's user reads what the servers read
        for folder in ("rules", "targets", "secrets", "data"):
            os.makedirs(os.path.join(self.workdir, folder), mode=0o700, exist_ok=True)
        for folder in ("secrets", "data"):  # made by an earlier release with the umask's mode
            os.chmod(os.path.join(self.workdir, folder), 0o700)
        stack.ensure_credentials(self.workdir)
        self.webhook_token = self._webhook_token()
        self._stop_leftovers()
        self.sync(reload=False)
        try:
            await asyncio.to_thread(self.stack.start)
        except CivicError as e:
            self.off_reason = e.message
            log.warning("monitoring is off: %s", e.message)
            return
        self._write_pids()
        self.task = aiotasks.guarded("monitoring", self._loop)

    async def stop(self) -> None:
        if self.task is not None:
            await aiotasks.cancel([self.task])
        if self.stack.processes:
            await asyncio.to_thread(self.stack.stop)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            await asyncio.to_thread(self.sync)

    # --- one pass ------------------------------------------------------------------------

    def sync(self, *, reload: bool = True) -> None:
        """Write what changed; reload the servers if their configuration did."""
        files = self.files()
        changed = {path for path, text in files.items() if self.written.get(path) != text}
        for path in sorted(changed):
            self._write(path, files[path])
        for path in [p for p in self.written if p not in files]:
            os.remove(os.path.join(self.workdir, path))
            del self.written[path]
            changed.add(path)
        if reload and any(not p.startswith("targets/") for p in changed):
            self.stack.reload()

    def files(self) -> dict[str, str]:
        """Every file the monitoring servers read, as it should be now (relative paths)."""
        teams = self.ctx.store.teams()
        envs = self.ctx.store.environments()
        services = self._services()
        out: dict[str, str] = {}
        for name, env in sorted(envs.items()):
            group = rules.environment_rules(env)
            for service, spec in sorted(services.get(name, {}).items()):
                group += rules.service_rules(
                    environment=env, service=service, spec=spec, link=self.service_url(name, service)
                )
            out[f"rules/{name}.yml"] = rules.rule_file({name: group})
        out["targets/replicas.json"] = scrape.targets_file(self._targets(envs, services))
        haproxy_labels = {
            f"{svc}.{env}": f"{env}/{svc}/{envs[env].spec.team}"
            for env, by_name in services.items()
            if env in envs
            for svc in by_name
        }
        out["prometheus.yml"] = scrape.config_text(
            scrape.prometheus_config(
                rules_glob=os.path.join(self.workdir, "rules", "*.yml"),
                targets_dir=os.path.join(self.workdir, "targets"),
                alertmanager=f"127.0.0.1:{self.stack.ports.alertmanager}",
                civic=f"127.0.0.1:{self.api_port}",
                haproxy=f"127.0.0.1:{self.stats_port}",
                pushgateway=f"127.0.0.1:{self.stack.ports.pushgateway}",
                haproxy_labels=haproxy_labels,
                basic_auth=self.stack.basic_auth(),
            )
        )
        out.update(self._alertmanager(teams))
        return out

    def _alertmanager(self, teams: dict[str, models.Team]) -> dict[str, str]:
        secret_files: dict[str, str] = {}
        values: dict[tuple[str, str], str | None] = {}

        def value(team: str, name: str) -> str | None:
            if (team, name) not in values:
                values[(team, name)] = self._team_secret(team, name)
            return values[(team, name)]

        def file(team: str, name: str) -> str:
            rel = f"secrets/{team}--{name}"
            secret_files[rel] = value(team, name) or ""
            return os.path.join(self.workdir, rel)

        civic = f"http://127.0.0.1:{self.api_port}"
        config = routing.alertmanager_config(
            teams=teams,
            civic_webhook=f"{civic}/v1/alerts/webhook",
            relay_url=lambda team, channel: civic + routing.relay_path(team, channel),
            secret_file=file,
            secret_value=value,
            token_file=os.path.join(self.workdir, "secrets", "webhook-token"),
        )
        return {
            **secret_files,
            "secrets/webhook-token": self.webhook_token,
            "alertmanager.yml": routing.config_text(config),
        }

    def _team_secret(self, team: str, name: str) -> str | None:
        try:
            return self.ctx.box.decrypt(self.ctx.store.get_secret(state.team_scope(team), name))
        except CivicError:
            return None

    # --- what Alertmanager posts to Civic -----------------------------------------------------

    def check_webhook_token(self, token: str | None) -> None:
        """Unauthorized unless ``token`` (a request's bearer token) is the one only Alertmanager holds."""
        expected = self.webhook_token
        if not token or not expected or not secrets.compare_digest(token.encode(), expected.encode()):
            raise Unauthorized("only Civic's Alertmanager posts here.")

    def relay(self, team: str, channel: str, body: bytes) -> None:
        """Forward a message Alertmanager posted for ``team``'s plain webhook ``channel`` to its URL."""
        found = self.ctx.store.teams().get(team)
        target = next(
            (c.webhook for c in (found.spec.channels if found else []) if c.name == channel and c.webhook),
            None,
        )
        if target is None:
            raise NotFound(f"team '{team}' has no webhook channel '{channel}' in teams/{team}.yaml.")
        url = self._team_secret(team, target.url_secret)
        if url is None:
            raise NotFound(
                f"team '{team}' channel '{channel}': its secret '{target.url_secret}' has no value; set one with "
                f"'civic secret set {team} {target.url_secret} --team'."
            )
        relay.forward(url, body, what=f"team {team}'s webhook '{channel}'")

    def _services(self) -> dict[str, dict[str, models.ServiceSpec]]:
        out: dict[str, dict[str, models.ServiceSpec]] = {}
        for (environment, service), model in self.ctx.records.current_services().items():
            out.setdefault(environment, {})[service] = model.spec
        return out

    def _targets(
        self, envs: dict[str, models.Environment], services: dict[str, dict[str, models.ServiceSpec]]
    ) -> list[scrape.Target]:
        out = []
        for r in self.replicas():
            spec = services.get(r.environment, {}).get(r.service)
            env = envs.get(r.environment)
            if spec is None or env is None or not spec.metrics_path:
                continue
            out.append(
                scrape.Target(
                    f"127.0.0.1:{r.port}",
                    r.environment,
                    r.service,
                    env.spec.team,
                    revision=str(r.revision),
                    replica=r.id,
                    metrics_path=spec.metrics_path,
                )
            )
        return out

    # --- files -----------------------------------------------------------------------------

    def _write(self, rel: str, text: str) -> None:
        path = os.path.join(self.workdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = 0o600 if rel.startswith("secrets/") or rel == "alertmanager.yml" else 0o644
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)  # Prometheus never reads a half-written file
        self.written[rel] = text

    def _webhook_token(self) -> str:
        path = os.path.join(self.workdir, "secrets", "webhook-token")
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()
        return "civic_webhook_" + secrets.token_urlsafe(24)

    def _pid_file(self) -> str:
        return os.path.join(self.workdir, "pids")

    def _write_pids(self) -> None:
        with open(self._pid_file(), "w") as f:
            f.write(" ".join(str(p.pid) for p in self.stack.processes.values()))

    def _stop_leftovers(self) -> None:
        """Servers left by a control plane that was killed: stop them before starting anew."""
        try:
            with open(self._pid_file()) as f:
                pids = [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            return
        for pid in pids:
            try:
                if "prometheus" not in " ".join(psutil.Process(pid).cmdline()):  # the pid was reused
                    continue
                os.killpg(pid, signal.SIGKILL)
            except (psutil.Error, OSError):
                continue
