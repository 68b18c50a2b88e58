"""The files of ``policies/``: Policy, PolicyOverride and PolicySuite, as Pydantic models.

These are the edge where an estate's YAML becomes values; :mod:`civic.policy.files`
validates documents against them and turns them into
:class:`~civic.policy.definitions.Policy` and :class:`~civic.policy.definitions.Override`
values. Field names are camelCase in files, as in every Civic kind. Pure.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import Field

from civic.spec import models


class PolicySpec(models.Model):
    description: str = Field(min_length=1, description="What the policy asks for, in one sentence.")
    applies_to: list[str] = Field(min_length=1, description="Kinds it judges: Environment, Team, Service ...")
    expression: str = Field(
        min_length=1, description="CEL: true (or an empty list) means allowed; a list gives one violation per item."
    )
    when: str | None = Field(None, description="CEL: the policy applies only where this is true.")
    message: str = Field(
        min_length=1, description="Shown per violation; {item}, {name}, {params.x}, {object.spec.x} are filled in."
    )
    mode: Literal["deny", "warn", "audit"] = "deny"
    params: dict[str, Any] = Field(default_factory=dict)
    field: str = Field("", description="The field violations point at, e.g. spec.hosts.")


class PolicyDocument(models.Model):
    """``policies/<name>.yaml``: an organisation's own policy."""

    api_version: Literal["civic/v1"]
    kind: Literal["Policy"]
    metadata: models.Metadata
    spec: PolicySpec


class OverrideSpec(models.Model):
    reason: str = Field(min_length=1, description="Why the built-in is changed; plans show it.")
    mode: Literal["deny", "warn", "audit"] | None = None
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict, description="Replace these parameters.")

    @pydantic.model_validator(mode="after")
    def _changes_something(self) -> OverrideSpec:
        if self.enabled and self.mode is None and not self.params:
            raise ValueError("an override must change something: give 'mode', 'params' or 'enabled: false'")
        return self


class OverrideDocument(models.Model):
    """``policies/<name>.yaml``: a change to the built-in policy named in metadata.name."""

    api_version: Literal["civic/v1"]
    kind: Literal["PolicyOverride"]
    metadata: models.Metadata
    spec: OverrideSpec


class Case(models.Model):
    name: str
    kind: str | None = Field(None, description="The object's kind; default: the policy's first.")
    object: dict[str, Any] | None = None
    objects: list[dict[str, Any]] | None = Field(None, description="Several objects (estate-wide checks).")
    environment: dict[str, Any] | None = Field(None, description="The environment a Service runs in.")
    violations: int | str = Field(description="How many violations: a number, yes or no.")
    message: str | None = Field(None, description="A regular expression every violation must match.")

    @pydantic.field_validator("violations")
    @classmethod
    def _count(cls, value: int | str) -> int | str:
        if isinstance(value, str) and value not in ("yes", "no"):
            raise ValueError(f"must be a number, 'yes' or 'no', got '{value}'")
        return value

    @pydantic.model_validator(mode="after")
    def _has_objects(self) -> Case:
        if (self.object is None) == (self.objects is None):
            raise ValueError("a case needs exactly one of 'object' or 'objects'")
        return self


class SuiteSpec(models.Model):
    policy: str = Field(description="The policy under test.")
    base: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per kind, fields merged under every case's objects."
    )
    cases: list[Case] = Field(min_length=1)


class SuiteDocument(models.Model):
    """``policies/tests/<name>.yaml``: objects a policy must allow and must deny."""

    api_version: Literal["civic/v1"]
    kind: Literal["PolicySuite"]
    metadata: models.Metadata
    spec: SuiteSpec


KINDS: dict[str, type[models.Model]] = {
    "Policy": PolicyDocument,
    "PolicyOverride": OverrideDocument,
    "PolicySuite": SuiteDocument,
}
