"""The estate's kinds as Pydantic models: Platform, Team, Environment and Service.

These are the edge of the core: YAML values are validated into them once, and every
later layer (plan, policy, store, runtime) reads them. Field names are camelCase in
files (``businessUnit``) and snake_case in Python (``business_unit``). Models are
frozen; ``canonical()`` gives the JSON-ready form that plans diff and stores keep.

The JSON Schema of each kind (``civic schema KIND``) is generated from these classes,
so a docstring or ``description`` here is what an editor shows.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import shlex
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field
from pydantic.alias_generators import to_camel

from civic.spec import quantities, yamlpos

API_VERSION = "civic/v1"

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SECRET_NAME = re.compile(r"^[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$")
HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class Model(pydantic.BaseModel):
    """Base of every spec model: camelCase in files, unknown fields rejected, frozen."""

    model_config = pydantic.ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
    )


class Kind(Model):
    """Base of the kinds of file (Platform, Team, Environment, Service): what plan diffs and
    the store keeps. Nested models carry no private state, so validating them stays cheap."""

    _canonical: dict[str, Any] | None = pydantic.PrivateAttr(None)
    _fingerprint: str | None = pydantic.PrivateAttr(None)

    def canonical(self) -> dict[str, Any]:
        """The form that is diffed, hashed and stored: camelCase, JSON types, no nulls.

        Computed once per (frozen) model; callers must not change the dict returned.
        """
        if self._canonical is None:
            self._canonical = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self._canonical

    def fingerprint(self) -> str:
        """A stable hash of ``canonical()``: equal specs, equal fingerprints."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.canonical())
        return self._fingerprint

    def known_fingerprint(self, value: str) -> None:
        """Take the fingerprint a previous process computed for the same text (spec.estate)."""
        self._fingerprint = value


def fingerprint(value: Any) -> str:
    """The hash of a canonical spec, however it was obtained (a model, or the store)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def shared(default: Model) -> Any:
    """A default that is one frozen instance, shared by every model that takes it (Pydantic
    deep-copies a plain model default for each one), still shown in the JSON Schema."""
    shown = default.model_dump(mode="json", by_alias=True, exclude_none=True)
    return Field(default_factory=lambda: default, json_schema_extra={"default": shown})


def _dns_label(value: str) -> str:
    if len(value) > 63:
        raise ValueError(f"'{value}' is {len(value)} characters; a name is at most 63")
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"'{value}' is not a DNS label; use lower-case letters, digits and "
            "'-', starting and ending with a letter or digit"
        )
    return value


def _cpu(value: str | int | float) -> str:
    quantities.millicores(value)
    return str(value)


def _memory(value: str | int) -> str:
    quantities.bytes_(value)
    return str(value)


Name = Annotated[str, pydantic.AfterValidator(_dns_label)]
Cpu = Annotated[
    str, pydantic.BeforeValidator(lambda v: str(v) if isinstance(v, int | float) else v), pydantic.AfterValidator(_cpu)
]
Memory = Annotated[
    str, pydantic.BeforeValidator(lambda v: str(v) if isinstance(v, int) else v), pydantic.AfterValidator(_memory)
]


def _secret_name(value: str) -> str:
    if not SECRET_NAME.match(value) or len(value) > 253:
        raise ValueError(f"'{value}' is not a secret name; use letters, digits, '-', '_' and '.'")
    return value


SecretName = Annotated[str, pydantic.AfterValidator(_secret_name)]

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""An environment variable's name as POSIX shells and Kubernetes' C_IDENTIFIER have it."""


def _env_name(value: str) -> str:
    """A name execve() and a shell take: no NUL byte (it crash-looped the supervisor), no '='."""
    if not ENV_NAME.fullmatch(value):
        raise ValueError(
            f"{yamlpos.quoted(value)} is not an environment variable name; use letters, digits and '_', "
            "and do not start with a digit"
        )
    return value


def _env_value(value: str) -> str:
    if "\x00" in value:
        raise ValueError("a value cannot hold a NUL character (\\0): no process can be given it")
    return value


EnvName = Annotated[str, pydantic.AfterValidator(_env_name)]
EnvValue = Annotated[str, pydantic.AfterValidator(_env_value)]

_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"'{value}' is not a duration; write it as Prometheus does, e.g. '30s', '5m' or '1h30m'")
    return value


Duration = Annotated[str, pydantic.AfterValidator(_duration)]


class Metadata(Model):
    name: Name = Field(description="The object's name: a DNS label, at most 63 characters.")
    labels: dict[str, str] = Field(default_factory=dict, description="Free-form labels, for policy and search.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Free-form annotations.")


# --- Platform (civic.yaml) --------------------------------------------------------------


class Quota(Model):
    """How much an environment may run. Unset fields take the platform's defaults."""

    services: int | None = Field(None, ge=0, description="Services that may be deployed.")
    replicas: int | None = Field(None, ge=0, description="Replicas across all services, surge included.")
    cpu: Cpu | None = Field(None, description="CPU across all replicas, e.g. '4' or '500m'.")
    memory: Memory | None = Field(None, description="Memory across all replicas, e.g. '8Gi'.")
    requests_cpu: Cpu | None = Field(
        None, description="CPU requested across all replicas (Kubernetes' requests.cpu); no platform default."
    )
    requests_memory: Memory | None = Field(
        None, description="Memory requested across all replicas (Kubernetes' requests.memory); no platform default."
    )


class Limits(Model):
    """Per-replica defaults for services that set no resources (a LimitRange)."""

    default_cpu: Cpu | None = None
    default_memory: Memory | None = None
    default_request_cpu: Cpu | None = None
    default_request_memory: Memory | None = None


class PlatformDefaults(Model):
    quota: Quota = Quota(services=10, replicas=30, cpu="8", memory="16Gi")
    limits: Limits = Limits(
        default_cpu="1", default_memory="1Gi", default_request_cpu="10m", default_request_memory="100Mi"
    )


class Releases(Model):
    """What the local runtime keeps of each service's releases (uploaded code and its build)."""

    keep: int = Field(
        10,
        ge=1,
        le=1000,
        description="Releases kept per service: the newest N, plus any still running; older ones are removed.",
    )


class Cluster(Model):
    """A Kubernetes cluster that environments can live on (the Kubernetes backend)."""

    name: Name = Field(description="The cluster's name in Civic, e.g. 'live'.")
    context: str | None = Field(None, description="The kubeconfig context to use [default: the current one].")
    ingress_class: str = Field("nginx", description="The IngressClass that serves routes.")
    base_domain: str | None = Field(
        None, description="Services are served at <service>.<env>.<baseDomain> [default: the platform's baseDomain]."
    )
    kubernetes_version: str = Field(
        "1.30", pattern=r"^1\.[0-9]{2}$", description="The Kubernetes version to render for, e.g. '1.30'."
    )
    development: bool = Field(
        False,
        description="A development cluster: plain Secrets instead of ExternalSecrets, values taken from Civic's store.",
    )
    environments: list[str] = Field(
        default_factory=list,
        description=("Environments that live here: names or shell-style patterns such as 'laa-*'."),
    )
    ingress_namespace: Name = Field(
        "ingress-controllers", description="The ingress controller's namespace (NetworkPolicy)."
    )
    monitoring_namespace: Name = Field("monitoring", description="Prometheus's namespace (NetworkPolicy).")
    secret_store: str = Field("civic", description="The ClusterSecretStore ExternalSecrets read from.")
    cluster_issuer: str = Field("letsencrypt-production", description="cert-manager's ClusterIssuer for Ingress TLS.")


class PlatformSpec(Model):
    base_domain: str = Field("localhost", description="Services are served at <service>.<env>.<baseDomain>.")
    domains: list[str] = Field(default_factory=list, description="Other domains whose hosts environments may claim.")
    business_units: list[str] = Field(min_length=1, description="Allowed values of businessUnit.")
    environment_names: list[str] = Field(
        default_factory=lambda: ["development", "test", "staging", "preproduction", "production"],
        description="Allowed values of environmentName.",
    )
    defaults: PlatformDefaults = shared(PlatformDefaults())
    releases: Releases = shared(Releases())
    clusters: list[Cluster] | None = Field(
        None,
        description=(
            "Kubernetes clusters and the environments on each; environments on none run on the "
            "local runtime (the default)."
        ),
    )


class Platform(Kind):
    """``civic.yaml``: the platform's own settings."""

    api_version: Literal["civic/v1"]
    kind: Literal["Platform"]
    metadata: Metadata
    spec: PlatformSpec


# --- Team (teams/<team>.yaml) -----------------------------------------------------------


class Member(Model):
    name: str
    email: str | None = None
    github: str | None = None


class SlackTarget(Model):
    channel: str = Field(description="The channel's name, e.g. '#apply-alerts'.")
    webhook_url_secret: SecretName = Field(description="The name of the team secret holding the webhook URL.")


class WebhookTarget(Model):
    url_secret: SecretName = Field(description="The name of the team secret holding the URL.")


class Channel(Model):
    """Where a team's alerts go, and which of them."""

    name: Name
    slack: SlackTarget | None = None
    webhook: WebhookTarget | None = None
    severities: list[Literal["critical", "warning", "info"]] = ["critical", "warning"]
    environments: Literal["all", "production", "nonProduction"] | list[Name] = Field(
        "all",
        description="Which of the team's environments: all, production, nonProduction, or a list of their names.",
    )

    @pydantic.model_validator(mode="after")
    def _one_target(self) -> Channel:
        if (self.slack is None) == (self.webhook is None):
            raise ValueError("a channel needs exactly one of 'slack' or 'webhook'")
        return self


class TeamSpec(Model):
    display_name: str | None = None
    email: str | None = Field(None, description="The team's shared mailbox.")
    github_teams: list[str] = Field(default_factory=list, description="GitHub teams whose members are in it.")
    members: list[Member] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list, description="Alert channels.")


class Team(Kind):
    """``teams/<team>.yaml``: a team that owns environments and receives their alerts."""

    api_version: Literal["civic/v1"]
    kind: Literal["Team"]
    metadata: Metadata
    spec: TeamSpec


# --- Environment (environments/<env>/environment.yaml) ---------------------------------


class AccessGrant(Model):
    """Who administers the environment: a team (preferred) or a single user."""

    team: str | None = None
    user: str | None = None
    role: str = Field("admin", description="admin, edit or view.")

    @pydantic.model_validator(mode="after")
    def _one_subject(self) -> AccessGrant:
        if (self.team is None) == (self.user is None):
            raise ValueError("an access grant needs exactly one of 'team' or 'user'")
        return self


CIVIC_POLICIES = ("default-deny", "allow-same-namespace", "allow-ingress-controllers", "allow-monitoring")
"""The NetworkPolicies Civic renders itself (and ``allow-from-<env>``): no extra policy may take these names."""


class ExtraPolicy(Model):
    """A Kubernetes NetworkPolicy kept as written, for what ``network``'s fields cannot say
    (some pods only, some ports, addresses, egress). Rendered as it is on Kubernetes, in the
    environment's namespace with Civic's labels; the local runtime has no network policies."""

    name: Name = Field(description="The NetworkPolicy's name in the environment's namespace.")
    spec: dict[str, Any] = Field(description="The NetworkPolicy's spec, as Kubernetes takes it (podSelector, ...).")

    @pydantic.field_validator("name")
    @classmethod
    def _not_civic_own(cls, value: str) -> str:
        if value in CIVIC_POLICIES or value.startswith("allow-from-"):
            raise ValueError(f"'{value}' is the name of a policy Civic renders itself; choose another name")
        return value

    @pydantic.field_validator("spec")
    @classmethod
    def _selects_pods(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("podSelector"), dict):
            raise ValueError("a NetworkPolicy spec needs a podSelector ({} for every pod)")
        return value


class Network(Model):
    """Who may call the environment's services. Civic denies everything else (ingress)."""

    allow_from: list[Name] = Field(default_factory=list, description="Environments whose services may call this one's.")
    allow_ingress: bool = Field(True, description="Serve routes from the platform's router.")
    # None means true: an unset field keeps existing environments' fingerprints unchanged.
    allow_same_environment: bool | None = Field(
        None, description="Let the environment's services call each other [default: true]."
    )
    allow_monitoring: bool | None = Field(
        None, description="Let the platform's Prometheus scrape the environment's services [default: true]."
    )
    extra_policies: list[ExtraPolicy] | None = Field(
        None,
        description="Kubernetes NetworkPolicies kept as written (some pods, ports, addresses, egress): "
        "their ingress rules add to what the fields above admit; egress ones restrict as written. Kubernetes only.",
    )

    @property
    def same_environment(self) -> bool:
        return self.allow_same_environment is not False

    @property
    def monitoring(self) -> bool:
        return self.allow_monitoring is not False

    @pydantic.field_validator("extra_policies")
    @classmethod
    def _unique_names(cls, value: list[ExtraPolicy] | None) -> list[ExtraPolicy] | None:
        names = [p.name for p in value or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"extra policy names must be unique; {', '.join(twice)} appear more than once")
        return value


class Host(Model):
    name: str = Field(description="A hostname this environment serves, e.g. 'apply.service.gov.uk'.")
    shared: bool = Field(False, description="Allow another environment that also says shared to claim it.")

    @pydantic.field_validator("name")
    @classmethod
    def _hostname(cls, value: str) -> str:
        if not HOSTNAME.match(value) or len(value) > 253:
            raise ValueError(f"'{value}' is not a hostname")
        return value


BACKING_TYPES = ("postgres", "redis", "bucket", "queue")
BACKING_CLASSES = ("small", "medium", "large")
# What ${services.<name>.<attribute>} may name, per type of backing service.
BACKING_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "postgres": ("url", "host", "port", "database", "username", "password"),
    "redis": ("url", "host", "port", "password"),
    "bucket": ("url", "name", "endpoint", "accessKeyId", "secretAccessKey"),
    "queue": ("url", "name", "host", "port", "username", "password"),
}


class BackingService(Model):
    """A database, cache, bucket or queue that Civic provides for the environment."""

    type: Literal["postgres", "redis", "bucket", "queue"]
    class_: Literal["small", "medium", "large"] = Field("small", alias="class")
    version: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class AlertRule(Model):
    """A team's own Prometheus alert rule."""

    alert: str = Field(
        min_length=1,
        description=(
            "The alert's name: any text, as Prometheus takes any label value ('Quota-Exceeded', '500 errors')."
        ),
    )
    expr: str
    for_: Duration | None = Field(None, alias="for")
    severity: Literal["critical", "warning", "info"] = "warning"
    summary: str | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] | None = Field(
        None, description="Other annotations (runbook_url, dashboard_url ...), passed on as written."
    )


class ScrapeTarget(Model):
    """Metrics the platform's Prometheus scrapes from the environment (a ServiceMonitor)."""

    name: Name
    selector: dict[str, str] = Field(default_factory=dict, description="Labels of the services to scrape.")
    port: str = Field(description="The port's name or number.")
    path: str = "/metrics"
    interval: str | None = Field(None, description="How often, e.g. '15s'.")


class PolicyException(Model):
    """An exemption from one named policy, with a reason and an expiry date (see docs/policies.md).

    After ``expires`` the exception stops applying and plans say so.
    """

    policy: str = Field(description="The name of the policy, as 'civic policy list' shows it.")
    reason: str = Field(min_length=1, description="Why the exemption is needed, in words.")
    expires: datetime.date = Field(description="The last day it applies (YYYY-MM-DD).")


_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _label_key(value: str) -> str:
    """A Kubernetes label key, ``[prefix/]name``; the prefixes Kubernetes reserves are refused."""
    prefix, _, name = value.rpartition("/")
    if len(name) > 63 or not _LABEL_NAME.match(name) or (prefix and not _LABEL_PREFIX.match(prefix)):
        raise ValueError(f"'{value}' is not a label key; write [prefix/]name, name at most 63 characters")
    if prefix in ("kubernetes.io", "k8s.io") or prefix.endswith((".kubernetes.io", ".k8s.io")) or len(prefix) > 253:
        raise ValueError(f"'{value}': the prefix '{prefix}' is Kubernetes' own; use a label of your own")
    return value


def _label_value(value: str) -> str:
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        raise ValueError(f"'{value}' is not a label value; at most 63 letters, digits, '-', '_' and '.'")
    return value


LabelKey = Annotated[str, pydantic.AfterValidator(_label_key)]
LabelValue = Annotated[str, pydantic.AfterValidator(_label_value)]


class EnvironmentSpec(Model):
    team: Name = Field(description="The owning team: a file teams/<team>.yaml.")
    business_unit: str = Field(description="One of civic.yaml's businessUnits.")
    application: str = Field(description="What the environment runs, in words.")
    owner: str | None = Field(None, description="Who answers for it: 'Team name: email'.")
    source_code: str | None = Field(None, description="The repository's URL.")
    team_channel: str | None = Field(None, description="The team's chat channel, e.g. '#apply-dev'.")
    service_area: str | None = None
    production: bool = Field(description="Whether it serves the public for real.")
    environment_name: str = Field(description="One of civic.yaml's environmentNames.")
    review_after: datetime.date | None = Field(None, description="When to check it is still needed.")
    access: list[AccessGrant] = Field(default_factory=list)
    # None means true: an unset field keeps existing environments' fingerprints unchanged.
    owner_access: bool | None = Field(
        None,
        description="Make the owning team admin when 'access' names no one [default: true]. False grants no one "
        "anything (an import writes it where the source grants the owner nothing).",
    )
    namespace_labels: dict[LabelKey, LabelValue] | None = Field(
        None,
        description="Extra labels on the environment's Kubernetes namespace, e.g. ones other namespaces' "
        "network policies select it by. Civic's own labels win over these. Kubernetes only.",
    )
    quota: Quota = shared(Quota())
    limits: Limits = shared(Limits())
    network: Network = shared(Network())
    hosts: list[Host] = Field(default_factory=list, description="Hostnames beyond the generated ones.")
    backing_services: dict[Name, BackingService] = Field(default_factory=dict)
    secrets: list[SecretName] = Field(default_factory=list, description="Names only; values never in git.")
    variables: dict[EnvName, EnvValue] = Field(
        default_factory=dict, description="Variables for every service; may use ${...} references."
    )
    alert_rules: list[AlertRule] = Field(default_factory=list)
    scrape: list[ScrapeTarget] | None = Field(None, description="Extra metrics endpoints to scrape.")
    policy_exceptions: list[PolicyException] | None = Field(
        None, description="Policies this environment (and its services) is exempted from, until a date."
    )

    @pydantic.field_validator("hosts", mode="before")
    @classmethod
    def _hosts_as_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value


class Environment(Kind):
    """``environments/<env>/environment.yaml``: the unit of tenancy."""

    api_version: Literal["civic/v1"]
    kind: Literal["Environment"]
    metadata: Metadata
    spec: EnvironmentSpec


# --- Service (civic.service.yaml, in the service's own repository) ---------------------


def _split_command(value: Any) -> Any:
    return shlex.split(value) if isinstance(value, str) else value


class Run(Model):
    command: Annotated[list[str], pydantic.BeforeValidator(_split_command)] = Field(
        min_length=1, description="What to run, as a list or a shell-like string; $PORT is set."
    )
    working_dir: str | None = Field(
        None,
        description="The folder to run in, relative to the uploaded code's root [default: the root].",
    )


PYTHON_VERSION = re.compile(r"^3\.[0-9]{1,2}$")


class Build(Model):
    """How the local runtime builds a release from the uploaded code (Kubernetes runs ``image:``)."""

    python: str | None = Field(
        None,
        description="The Python version the runtime is made with, e.g. '3.11' [default: the platform's].",
    )
    command: Annotated[list[str] | None, pydantic.BeforeValidator(_split_command)] = Field(
        None,
        description="A build command run in the release's folder after its dependencies are installed.",
    )

    @pydantic.field_validator("python")
    @classmethod
    def _python(cls, value: str | None) -> str | None:
        if value is not None and not PYTHON_VERSION.fullmatch(value):
            raise ValueError(f"{value!r} is not a Python version; write major.minor, such as '3.11'")
        return value


class Check(Model):
    path: str = "/healthz"
    interval_seconds: float = Field(1.0, gt=0)
    timeout_seconds: float = Field(1.0, gt=0)
    failure_threshold: int = Field(3, ge=1)


_URL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")
"""What a route's pathPrefix may hold: the characters of a URL path (RFC 3986)."""


class Route(Model):
    host: str | None = Field(
        None, description="A hostname to serve this service at [default: <service>.<environment>.<baseDomain>]."
    )
    path_prefix: str = Field("/", description="Serve only paths that start with this, e.g. '/api/'.")

    @pydantic.field_validator("host")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        """Only a hostname: anything else (a newline, a space) would be written into the router's map."""
        if value is not None and (not HOSTNAME.fullmatch(value) or len(value) > 253):
            raise ValueError(
                f"{value!r} is not a hostname; use lower-case letters, digits, '-' and '.', "
                "such as 'apply.service.justice.gov.uk'"
            )
        return value

    @pydantic.field_validator("path_prefix")
    @classmethod
    def _path(cls, value: str) -> str:
        """A URL path: it is written into the router's map beside the host, so no space or newline."""
        if not _URL_PATH.fullmatch(value) or len(value) > 1024:
            raise ValueError(
                f"{value!r} is not a URL path; start it with '/' and use only the characters of a URL "
                "path (no spaces or control characters), such as '/api/'"
            )
        return value


class Autoscaling(Model):
    min: int = Field(1, ge=0)
    max: int = Field(ge=1)
    target_requests_per_second: float | None = Field(None, gt=0)
    target_cpu_percent: int | None = Field(None, gt=0, le=100)
    stabilization_seconds: float = Field(30.0, ge=0)


class Rollout(Model):
    strategy: Literal["rolling", "canary"] = "rolling"
    max_surge: int = Field(1, ge=0)
    max_unavailable: int = Field(0, ge=0)
    progress_deadline_seconds: float = Field(60.0, gt=0, description="A new revision not ready by then is rolled back.")
    termination_grace_seconds: float = Field(
        10.0, ge=0, description="After SIGTERM, how long a replica may take to exit before SIGKILL."
    )


class Resources(Model):
    cpu: Cpu | None = None
    memory: Memory | None = None
    request_cpu: Cpu | None = None
    request_memory: Memory | None = None


class AlertSettings(Model):
    """Thresholds of the default alert rules for one service (issue: see and route)."""

    error_rate_percent: float = Field(5.0, gt=0, le=100, description="Share of 5xx responses that alerts.")
    latency_p95_seconds: float = Field(1.0, gt=0, description="p95 response time that alerts.")
    down_for: Duration = Field("10s", description="How long with no ready replica before 'down' fires.")
    disabled: list[str] = Field(default_factory=list, description="Default alerts to leave out, by name.")


class SecurityContext(Model):
    """How the service's processes run. Unset means the safe default shown."""

    privileged: bool = Field(False, description="Run with every privilege of the host (policy denies it).")
    capabilities: list[str] = Field(
        default_factory=list, description="Linux capabilities to add, e.g. NET_BIND_SERVICE."
    )
    run_as_non_root: bool = Field(True, description="Refuse to start as root (uid 0).")


class ServiceSpec(Model):
    image: str | None = Field(None, description="The container image, for the Kubernetes backend.")
    run: Run | None = None
    build: Build | None = Field(None, description="How the local runtime builds the uploaded code.")
    port: int = Field(8000, ge=1, le=65535)
    replicas: int = Field(1, ge=0)
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    readiness: Check | None = None
    liveness: Check | None = None
    routes: list[Route] = Field(default_factory=list)
    autoscaling: Autoscaling | None = None
    rollout: Rollout = shared(Rollout())
    resources: Resources = shared(Resources())
    metrics_path: str | None = None
    alert_rules: list[AlertRule] = Field(default_factory=list)
    alerts: AlertSettings = shared(AlertSettings())
    security: SecurityContext | None = Field(None, description="Privileges; unset means the safe defaults.")
    exposure: Literal["router", "internal", "loadBalancer", "nodePort"] | None = Field(
        None,
        description="How it is reached: through the platform's router (the default), only "
        "inside the environment, or around the router (policy denies those).",
    )
    policy_exceptions: list[PolicyException] | None = Field(
        None, description="Policies this service is exempted from, until a date."
    )


class Service(Kind):
    """``civic.service.yaml``: a deployable service."""

    api_version: Literal["civic/v1"]
    kind: Literal["Service"]
    metadata: Metadata
    spec: ServiceSpec


KINDS: dict[str, type[Kind]] = {
    "Platform": Platform,
    "Team": Team,
    "Environment": Environment,
    "Service": Service,
}
