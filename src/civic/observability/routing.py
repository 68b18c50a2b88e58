"""Alerts reach the owning team by themselves: Alertmanager's configuration from ownership.

Each team declares its channels in ``teams/<team>.yaml`` (Slack-compatible webhooks or
plain webhooks; which severities; production, non-production or all). From that alone
:func:`alertmanager_config` writes one route per channel, matched on the ``team``,
``production`` and ``severity`` labels that every Civic rule carries, so nobody files a
ticket to get a receiver added. Civic's own webhook receives every alert too (history,
runbooks). Inhibition: a service that is down silences its own error and latency alerts.

:func:`routes` gives the same decisions as sentences for a plan ("alerts for
environment X will now go to #channel"). Pure: URLs never appear in the configuration.
A Slack URL comes in through ``secret_file`` (a 0600 file Alertmanager reads,
``api_url_file``). A plain webhook's URL Alertmanager 0.25 takes only inline (its
``webhook_configs`` have no ``url_file``; that came in 0.26), where ``/api/v2/status``
would show it to anyone who asks: so Alertmanager posts a plain webhook's messages to
Civic (``relay_url``, with the same bearer token as Civic's own receiver), and Civic
forwards them to the team's URL (:mod:`civic.observability.relay`). ``secret_value`` only
says whether a channel's secret has a value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from civic.observability import rules
from civic.plan import planning
from civic.plan.actions import Key
from civic.spec import models
from civic.spec.estate import Estate

CIVIC_RECEIVER = "civic"


def relay_path(team: str, channel: str) -> str:
    """The path of Civic's API through which Alertmanager reaches a team's plain webhook."""
    return f"/v1/alerts/relay/{team}/{channel}"


# Timings Civic ships: together with a 2 s scrape and evaluation interval, a breach reaches
# the team's channel in about 15 s (benchmarks/alert_latency.py measures it).
GROUP_WAIT = "1s"
GROUP_INTERVAL = "30s"
REPEAT_INTERVAL = "4h"
RESOLVE_TIMEOUT = "1m"


@dataclasses.dataclass(frozen=True)
class Route:
    """One decision: alerts of these severities, from these environments, go to this channel."""

    team: str
    channel: str  # the channel's name in the team file
    target: str  # '#apply-alerts' for Slack, 'webhook' for a plain webhook
    severities: tuple[str, ...]
    environments: str | tuple[str, ...]  # all | production | nonProduction, or environments by name
    secret: str = ""  # the team secret holding the channel's URL

    @property
    def receiver(self) -> str:
        return f"{self.team}/{self.channel}"

    def applies_to(self, environment: models.Environment) -> bool:
        if environment.spec.team != self.team:
            return False
        if isinstance(self.environments, tuple):
            return environment.metadata.name in self.environments
        if self.environments == "production":
            return environment.spec.production
        if self.environments == "nonProduction":
            return not environment.spec.production
        return True


def team_routes(team: models.Team) -> list[Route]:
    out = []
    for channel in team.spec.channels:
        target = channel.slack.channel if channel.slack else "webhook"
        secret = (
            channel.slack.webhook_url_secret if channel.slack else channel.webhook.url_secret if channel.webhook else ""
        )
        environments = channel.environments if isinstance(channel.environments, str) else tuple(channel.environments)
        out.append(
            Route(team.metadata.name, channel.name, target, tuple(channel.severities), environments, secret=secret)
        )
    return out


def routes(
    environment: models.Environment,
    team: models.Team | None,
    *,
    secret_set: Callable[[str, str], bool] | None = None,
) -> list[str]:
    """Where the environment's alerts go, as sentences for a plan or a status page.
    ``secret_set(team, name)`` says whether a team secret has a value; a channel whose
    secret has none is said to be waiting for it (Alertmanager leaves it out until then)."""
    if team is None:
        return ["no team file: alerts reach Civic only"]
    found = [r for r in team_routes(team) if r.applies_to(environment)]
    if not found:
        return [f"team {team.metadata.name} has no channel for this environment: alerts reach Civic only"]
    return [
        f"{', '.join(r.severities)} → {r.target} ({r.receiver}"
        + ("" if secret_set is None or secret_set(r.team, r.secret) else f"; webhook secret '{r.secret}' not set yet")
        + ")"
        for r in found
    ]


def alertmanager_config(
    *,
    teams: Mapping[str, models.Team],
    civic_webhook: str,
    relay_url: Callable[[str, str], str],
    secret_file: Callable[[str, str], str],
    secret_value: Callable[[str, str], str | None],
    token_file: str | None = None,
    link: str | None = None,
    group_wait: str = GROUP_WAIT,
    group_interval: str = GROUP_INTERVAL,
) -> dict[str, Any]:
    """Alertmanager's configuration. ``secret_file(team, name)`` returns the path of a file
    holding a team secret; ``secret_value(team, name)`` its value, or None if it has none
    (that channel is then left out, and Civic's own receiver still gets its alerts).
    ``relay_url(team, channel)`` is where Civic takes a plain webhook's messages;
    ``token_file`` holds the bearer token Alertmanager sends to Civic."""
    to_civic: dict[str, Any] = (
        {"http_config": {"authorization": {"credentials_file": token_file}}} if token_file else {}
    )
    receivers: list[dict[str, Any]] = [
        {"name": CIVIC_RECEIVER, "webhook_configs": [{"url": civic_webhook, "send_resolved": True, **to_civic}]}
    ]
    child_routes: list[dict[str, Any]] = [
        {"receiver": CIVIC_RECEIVER, "matchers": ['alertname=~".+"'], "continue": True}
    ]
    for name in sorted(teams):
        team = teams[name]
        for route, channel in zip(team_routes(team), team.spec.channels, strict=True):
            receiver = _receiver(
                route,
                channel,
                secret_file=secret_file,
                secret_value=secret_value,
                relay={"url": relay_url(route.team, channel.name), "send_resolved": True, **to_civic},
                link=link,
            )
            if receiver is None:
                continue
            receivers.append(receiver)
            child_routes.append({"receiver": route.receiver, "matchers": _matchers(route), "continue": True})
    return {
        "global": {"resolve_timeout": RESOLVE_TIMEOUT},
        "route": {
            "receiver": CIVIC_RECEIVER,
            "group_by": ["alertname", "environment", "service"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": REPEAT_INTERVAL,
            "routes": child_routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": [f'alertname="{rules.SERVICE_DOWN}"'],
                "target_matchers": [
                    f'alertname=~"{rules.HIGH_ERROR_RATE}|{rules.HIGH_LATENCY}|{rules.REPLICAS_MISSING}"'
                ],
                "equal": ["environment", "service"],
            }
        ],
        "receivers": receivers,
    }


def _matchers(route: Route) -> list[str]:
    out = [f'team="{route.team}"', f'severity=~"{"|".join(route.severities)}"']
    if isinstance(route.environments, tuple):
        out.append(f'environment=~"{"|".join(route.environments)}"')
    elif route.environments == "production":
        out.append('production="true"')
    elif route.environments == "nonProduction":
        out.append('production="false"')
    return out


SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }}: {{ .CommonLabels.service }} in {{ .CommonLabels.environment }}"
)
SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "environment: {{ .Labels.environment }}, service: {{ .Labels.service }}, "
    "severity: {{ .Labels.severity }}"
    "{{ if .Annotations.link }}\n<{{ .Annotations.link }}|Open in Civic>{{ end }}\n{{ end }}"
)


def _receiver(
    route: Route,
    channel: models.Channel,
    *,
    secret_file: Callable[[str, str], str],
    secret_value: Callable[[str, str], str | None],
    relay: dict[str, Any],
    link: str | None,
) -> dict[str, Any] | None:
    if channel.slack is not None:
        if secret_value(route.team, channel.slack.webhook_url_secret) is None:
            return None
        slack: dict[str, Any] = {
            "api_url_file": secret_file(route.team, channel.slack.webhook_url_secret),
            "channel": channel.slack.channel,
            "send_resolved": True,
            "title": SLACK_TITLE,
            "text": SLACK_TEXT,
        }
        if link:
            slack["title_link"] = link
        return {"name": route.receiver, "slack_configs": [slack]}
    assert channel.webhook is not None
    if secret_value(route.team, channel.webhook.url_secret) is None:
        return None
    return {"name": route.receiver, "webhook_configs": [relay]}


def config_text(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, width=1000)


def changes(
    plan: planning.Plan,
    estate: Estate,
    applied: Mapping[Key, dict[str, Any]],
    *,
    secret_set: Callable[[str, str], bool] | None = None,
) -> list[str]:
    """Sentences for a plan: where each touched environment's alerts will go from now on.

    ``applied`` holds the applied specs of the plan's objects (the store's, before the change).
    An environment is touched when it or its team changes. ``secret_set`` as for :func:`routes`.
    """
    touched_teams = {a.name for a in plan.actions if a.kind == "Team"}
    names = {a.name for a in plan.actions if a.kind == "Environment"}
    created = {a.name for a in plan.actions if a.kind == "Environment" and a.verb == "create"}
    names |= {n for n, e in estate.environments.items() if e.spec.team in touched_teams}
    out = []
    for name in sorted(names):
        new_env = estate.environments.get(name)
        if name in created:
            old_env = None
        elif ("Environment", name) in applied:
            old_env = _model(models.Environment, applied[("Environment", name)])
        else:
            old_env = new_env
        if new_env is None:
            continue
        new_team = estate.teams.get(new_env.spec.team)
        old_team = None
        if old_env is not None:
            key = ("Team", old_env.spec.team)
            old_team = _model(models.Team, applied[key]) if key in applied else estate.teams.get(old_env.spec.team)
        new = routes(new_env, new_team, secret_set=secret_set)
        old = routes(old_env, old_team, secret_set=secret_set) if old_env is not None else []
        if new != old:
            out.append(f"alerts for environment {name} will now go to: {'; '.join(new)}")
    return out


def _model(cls: type[models.Model], spec: dict[str, Any] | None) -> Any:
    return cls.model_validate(spec) if spec is not None else None
