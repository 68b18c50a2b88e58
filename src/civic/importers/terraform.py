"""Terraform in ``resources/`` and its subfolders: which modules a namespace uses, and what they mean.

The MoJ declares a namespace's AWS services as Terraform modules of its own
(``github.com/ministryofjustice/cloud-platform-terraform-rds-instance?ref=9.2.0``).
:func:`parse` reads one ``.tf`` file into :class:`Block` values with line numbers;
:func:`classify` says which Civic backing service a module source stands for, or why
there is none; :func:`backing_service` turns a module block into a Civic
``BackingService`` value. Pure: text in, values out. Called by :mod:`civic.importers.moj`.

python-hcl2 takes some 30 ms a file, too slow for the MoJ's 12,460 files, so :func:`parse`
first scans the file's structure (:mod:`civic.importers.hclscan`, some 0.3 ms) and leaves
python-hcl2 only the values it cannot read itself: a module's inputs when they are asked
for (:class:`Inputs`), those :func:`backing_service` reads at once. Where the scan is
unsure of a file, python-hcl2 reads all of it (:func:`parse_with_hcl2`, the reference).
For every file python-hcl2 reads, both give equal blocks, inputs included; of a broken
file, python-hcl2 says what is wrong. The scan does not check expressions, so a file
broken only inside one (``a = b c``) is read here, where python-hcl2 refuses it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

import hcl2
import lark

from civic.importers import hclscan

# Cloud Platform module → the Civic backing-service type it provides.
BACKING_MODULES = {
    "rds-instance": "postgres",
    "rds-aurora": "postgres",
    "elasticache-cluster": "redis",
    "s3-bucket": "bucket",
    "sqs": "queue",
}

# Modules with no Civic backing service, and why; reported, never dropped silently.
UNMAPPED_MODULES = {
    "irsa": "grants AWS IAM roles to a Kubernetes service account; Civic hands each service "
    "the credentials of its own backing services, so there is no role to grant",
    "serviceaccount": "a service account for CI to deploy with kubectl; Civic deploys "
    "through its own API, with no cluster credentials in CI",
    "ecr-credentials": "an ECR image repository; container registries are outside Civic's "
    "backing services: keep the images where they are",
    "secrets-manager": "AWS Secrets Manager entries; declare the names in spec.secrets and "
    "set the values with 'civic secret set'",
    "hmpps-template": "creates GitHub environments and CI secrets for HMPPS repositories; "
    "that is CI set-up, not part of an estate",
    "service-pod": "a debugging pod with AWS tools; not a backing service",
    "sns-topic": "an SNS publish/subscribe topic; Civic's queues are point-to-point, with no topics",
    "opensearch": "an OpenSearch cluster; Civic has no search service",
    "opensearch-alert": "alerts for an OpenSearch cluster; Civic has no search service",
    "dynamodb-cluster": "a DynamoDB table; Civic has no key-value document store",
    "cloudfront": "a CloudFront CDN distribution; Civic has no CDN",
    "pushgateway": "a Prometheus Pushgateway; Civic scrapes services, it has no push gateway",
    "hmpps-egress-controls": "egress network controls; Civic's network rules cover ingress only",
    "dms": "an AWS Database Migration Service task; a one-off migration, not a backing service",
}

_PREFIX = "cloud-platform-terraform-"
# The module inputs backing_service reads.
BACKING_INPUTS = (
    "db_engine",
    "db_engine_version",
    "db_instance_class",
    "engine",
    "engine_version",
    "instance_type",
    "node_type",
    "count",
    "for_each",
)


@dataclasses.dataclass(frozen=True)
class Block:
    """One ``module`` or ``resource`` block: its names, inputs and where it starts."""

    file: str
    line: int
    block: str  # "module" or "resource"
    name: str  # the module's name, or "<type>.<name>" for a resource
    source: str = ""  # a module's source, as written
    inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # as python-hcl2 gives them


@dataclasses.dataclass(frozen=True)
class Classified:
    """What a module source means: a backing type, or None and the reason."""

    module: str  # "rds-instance", "iam-policy", "./modules/sqs"
    ref: str  # "9.2.0", or "" when unpinned
    backing: str | None
    why: str = ""


class ParseError(Exception):
    """A .tf file python-hcl2 cannot read; carries the line and column."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line, self.column = line, column


def parse(text: str, *, file: str) -> list[Block]:
    """The module and resource blocks of one .tf file, in file order: equal to
    :func:`parse_with_hcl2`'s, which reads the file whenever the scan is unsure of it."""
    try:
        return _scanned(text, file=file)
    except (hclscan.Unsure, ParseError):
        return parse_with_hcl2(text, file=file)


def _scanned(text: str, *, file: str) -> list[Block]:
    modules, resources = [], []
    for found in hclscan.scan(text, collect=frozenset({"module"})):
        names = [unquote(label) for label in found.labels]
        if found.type == "module":
            if len(names) != 1:
                raise hclscan.Unsure("a module block has one label")
            inputs = Inputs(found.attributes, text[found.start : found.end], nested=found.blocks)
            source = str(literal(inputs.source) or "")
            block = Block(file, _line(text, "module", names[0]), "module", names[0], source, inputs)
            if classify(source).backing is not None:  # read now what backing_service reads, so that
                for key in BACKING_INPUTS:  # a value python-hcl2 refuses sends the file to it
                    inputs.get(key)
            modules.append(block)
        elif found.type == "resource":
            if len(names) != 2:
                raise hclscan.Unsure("a resource block has two labels")
            resources.append(Block(file, _line(text, "resource", *names), "resource", ".".join(names)))
    return sorted(modules + resources, key=lambda b: b.line)


class Inputs(Mapping[str, Any]):
    """A module's attributes but ``source``, each value as python-hcl2 gives it, read when
    first asked for: simple values (strings, numbers, ``var.x``) here, others by python-hcl2."""

    def __init__(self, raw: Mapping[str, str], block: str, *, nested: tuple[str, ...] = ()) -> None:
        self._raw = {k: v for k, v in raw.items() if k != "source"}
        self._source = raw.get("source")
        self._block = block  # the module block's text, for python-hcl2 when needed
        self._nested = nested  # nested blocks: python-hcl2 reads the whole block
        self._values: dict[str, Any] | None = None
        self._read: dict[str, Any] = {}  # values read one by one

    @property
    def source(self) -> Any:
        """The ``source`` attribute's value, None if there is none."""
        if self._source is None:
            return None
        return _whole_block(self._block)[1] if self._nested else _value(self._source)

    def __getitem__(self, key: str) -> Any:
        if self._nested:
            return self.resolve()[key]
        if key not in self._read:
            self._read[key] = _value(self._raw[key])
        return self._read[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.resolve())

    def __len__(self) -> int:
        return len(self.resolve())

    def __contains__(self, key: object) -> bool:
        return key in self.resolve() if self._nested else key in self._raw

    def __repr__(self) -> str:
        return repr(self.resolve())

    def resolve(self) -> dict[str, Any]:
        """Every value; raises ParseError where python-hcl2 cannot read one."""
        if self._values is None:
            self._values = _whole_block(self._block)[0] if self._nested else {k: self[k] for k in self._raw}
        return self._values


_SIMPLE_STRING = re.compile(r'"(?:[^"\\\n$%]|\\.|\$(?!\{)|%(?!\{))*"')
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,15})")
_TRAVERSAL = re.compile(r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+")
_KEYWORDS = {"true": True, "false": False, "null": None}


def _value(raw: str) -> Any:
    """An attribute's value as python-hcl2 gives it: its text for a plain quoted string, a
    number, a bool, ``${var.x}`` for a reference; python-hcl2's own reading otherwise."""
    if _SIMPLE_STRING.fullmatch(raw):
        return raw
    if _INTEGER.fullmatch(raw):
        return int(raw)
    if raw in _KEYWORDS:
        return _KEYWORDS[raw]
    if _TRAVERSAL.fullmatch(raw) and raw.split(".", 1)[0] not in _KEYWORDS:
        return "${" + raw + "}"
    return _hcl2(f"value = {raw}\n")["value"]


def _whole_block(block: str) -> tuple[dict[str, Any], Any]:
    """A module block's inputs and source, read by python-hcl2."""
    (body,) = _hcl2(block)["module"][0].values()
    return _inputs(body), body.get("source")


def parse_with_hcl2(text: str, *, file: str) -> list[Block]:
    """The module and resource blocks of one .tf file, in file order, read by python-hcl2."""
    tree = _hcl2(text)
    out = []
    for entry in tree.get("module", []):
        for label, body in entry.items():
            name = unquote(label)
            out.append(
                Block(
                    file,
                    _line(text, "module", name),
                    "module",
                    name,
                    str(literal(body.get("source")) or ""),
                    _inputs(body),
                )
            )
    for entry in tree.get("resource", []):
        for rtype, named in entry.items():
            for label in named:
                rtype_, name = unquote(rtype), unquote(label)
                out.append(Block(file, _line(text, "resource", rtype_, name), "resource", f"{rtype_}.{name}"))
    return sorted(out, key=lambda b: b.line)


_OPTIONS = hcl2.SerializationOptions(with_comments=False)  # comments are no module's inputs


def _hcl2(text: str) -> dict[str, Any]:
    try:
        tree: dict[str, Any] = hcl2.loads(text, serialization_options=_OPTIONS)
    except lark.exceptions.UnexpectedInput as e:
        first = str(e).splitlines()[0] if str(e) else "unexpected input"
        raise ParseError(f"this is not valid HCL: {first}", e.line, e.column) from e
    except (lark.exceptions.LarkError, ValueError) as e:
        raise ParseError(f"this is not valid HCL: {e}", 1, 1) from e
    return tree


def _inputs(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("source", "__is_block__")}


def _line(text: str, *labels: str) -> int:
    pattern = r"^\s*" + r"\s+".join(f'"?{re.escape(label)}"?' for label in labels) + r"\s*\{"
    match = re.search(pattern, text, flags=re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def unquote(value: Any) -> str:
    text = str(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def literal(value: Any) -> Any:
    """A literal value, or None for an expression (``${var.x}``, ``module.y.z``)."""
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        return None
    if "${" in value:
        return None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return None if re.match(r"^[a-z_]+\.[\w.\[\]\"]+$", value) else value


def classify(source: str) -> Classified:
    """What a module ``source`` stands for in Civic."""
    text = source.strip()
    path, _, query = text.partition("?")
    ref = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("ref", "")
    if path.startswith(("./", "../")):
        return Classified(
            path,
            ref,
            None,
            "a local module: the importer does not follow the call, but reads the .tf files of "
            "a module folder under resources/ as files of their own, each module there listed once; "
            "check them, and rewrite this as Civic backing services by hand if it makes some",
        )
    path = path.removeprefix("git::").removesuffix(".git").rstrip("/")
    module = path.split("//")[-1].rsplit("/", 1)[-1] if "//" in path else path.rsplit("/", 1)[-1]
    if "//" not in path and len(path.split("/")) == 3 and not path.startswith(("github.com", "https:")):
        module = path.split("/")[1]  # a registry source: namespace/name/provider
    module = module.removeprefix(_PREFIX)
    if module in BACKING_MODULES:
        return Classified(module, ref, BACKING_MODULES[module])
    if module in UNMAPPED_MODULES:
        return Classified(module, ref, None, UNMAPPED_MODULES[module])
    if "terraform-aws-modules" in path:
        return Classified(
            module,
            ref,
            None,
            "a generic AWS module (terraform-aws-modules), not a Cloud Platform service; Civic has no equivalent",
        )
    return Classified(module, ref, None, "no Civic equivalent is known for this module")


def backing_service(block: Block, kind: Classified) -> tuple[dict[str, Any] | None, list[str], str]:
    """The BackingService value for a module block, the notes on values rewritten, and
    (when the value is None) why the module cannot be one."""
    inputs = block.inputs
    notes: list[str] = []
    if kind.module == "rds-instance":
        engine = literal(inputs.get("db_engine")) or "postgres"
        version, size = inputs.get("db_engine_version"), inputs.get("db_instance_class")
    elif kind.module == "rds-aurora":
        engine = literal(inputs.get("engine")) or "aurora-postgresql"
        version, size = inputs.get("engine_version"), inputs.get("instance_type")
    elif kind.module == "elasticache-cluster":
        engine, version, size = "redis", inputs.get("engine_version"), inputs.get("node_type")
    else:
        engine, version, size = kind.backing or "", None, None
    if kind.backing == "postgres" and "postgres" not in str(engine):
        return (
            None,
            notes,
            (
                f"engine '{engine}': Civic provides PostgreSQL only; move the data "
                "to PostgreSQL or keep this database outside Civic"
            ),
        )
    out: dict[str, Any] = {"type": kind.backing}
    cls, note = size_class(literal(size))
    if note:
        notes.append(note)
    if cls != "small":
        out["class"] = cls
    if literal(version) is not None:
        out["version"] = str(literal(version))
    elif version is not None:
        notes.append(f"version is an expression ({version}); left to Civic's default")
    if "count" in inputs or "for_each" in inputs:
        notes.append("the module uses count or for_each; imported as one service")
    return out, notes, ""


def size_class(value: Any) -> tuple[str, str | None]:
    """An AWS instance type (``db.t4g.micro``, ``cache.m6g.large``) as small, medium or large."""
    if value is None:
        return "small", None
    size = str(value).rsplit(".", 1)[-1].lower()
    if size in ("nano", "micro", "small"):
        cls = "small"
    elif size == "medium":
        cls = "medium"
    elif "large" in size:
        cls = "large"
    else:
        return "small", f"instance type '{value}' is not one the importer knows; class small"
    return cls, f"instance type '{value}' means class {cls}"
