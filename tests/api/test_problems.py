"""Errors as HTTP answers and back: every error class of the package is drawn in the tree of
civic/errors.py, has a status, a backend's error never blames the request, and the client
raises the very class (and message) the API raised."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re

import pytest

import civic
from civic import errors
from civic.api import problems

SAMPLE_ARGUMENTS = {
    "message": "something went wrong",
    "delay": 1.5,
    "fields": ["spec.replicas"],
    "what": "the rollout",
    "timeout": 2.0,
}


def _error_classes() -> list[type[errors.CivicError]]:
    """Every CivicError class defined in the package, with every module of it imported."""
    for module in pkgutil.walk_packages(civic.__path__, "civic."):
        if module.name != "civic.__main__" and not module.name.startswith("civic.store.migrations."):
            importlib.import_module(module.name)
    found: dict[type[errors.CivicError], None] = {}
    todo = [errors.CivicError]
    while todo:
        cls = todo.pop(0)
        if cls.__module__.startswith("civic."):
            found.setdefault(cls)
        todo += cls.__subclasses__()
    return list(found)


CLASSES = _error_classes()


def sample(cls: type[errors.CivicError]) -> errors.CivicError:
    if issubclass(cls, errors.SpecError):
        return cls(
            [
                errors.Problem(
                    "environments/shop-dev/environment.yaml",
                    14,
                    5,
                    "spec.port",
                    "must be between 1 and 65535, got 70000.",
                )
            ]
        )
    params = inspect.signature(cls).parameters.values()
    missing = [p.name for p in params if p.name not in SAMPLE_ARGUMENTS and p.default is p.empty]
    assert not missing, f"{cls.__name__} needs {missing}: add sample values to SAMPLE_ARGUMENTS"
    return cls(**{p.name: SAMPLE_ARGUMENTS[p.name] for p in params if p.name in SAMPLE_ARGUMENTS})


def ids(classes: list[type]) -> list[str]:
    return [c.__name__ for c in classes]


def _drawn() -> list[tuple[str, str | None, str]]:
    """(class, parent, line) for each node of the tree drawn in errors.py's docstring."""
    nodes, stack = [], []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^ {4}((?:[│ ] {3})*)(?:[├└]── )?([A-Z]\w+) ", line)
        if not match or ("──" not in line and match.group(2) != "CivicError"):
            continue
        depth = len(match.group(1)) // 4 + (1 if "──" in line else 0)
        stack[depth:] = [match.group(2)]
        nodes.append((match.group(2), stack[depth - 1] if depth else None, line))
    return nodes


def test_every_error_class_is_drawn_in_the_tree_under_its_own_base():
    drawn = _drawn()
    for cls in CLASSES:
        places = [(parent, line) for name, parent, line in drawn if name == cls.__name__]
        assert places, f"{cls.__name__} ({cls.__module__}) is not drawn in the tree of civic/errors.py"
        for parent, _line in places:
            assert parent is None or parent in ids(list(cls.__bases__)), (
                f"{cls.__name__} is drawn under {parent}, but its bases are {ids(list(cls.__bases__))}"
            )
        if cls.__module__ != "civic.errors":
            where = cls.__module__.removeprefix("civic.").replace(".", "/") + ".py"
            assert any(where in line for _, line in places), f"the tree should say {cls.__name__} is in {where}"


@pytest.mark.parametrize("cls", CLASSES[1:], ids=ids(CLASSES[1:]))
def test_every_error_class_has_a_status_of_its_own_line(cls):
    assert any(c in problems.STATUS for c in cls.__mro__ if c is not errors.CivicError), (
        f"{cls.__name__} gets the status of a bare CivicError: place it in the tree (errors.py) or in problems.STATUS"
    )
    assert 400 <= problems.status_of(sample(cls)) < 600


@pytest.mark.parametrize(
    "cls",
    [c for c in CLASSES if issubclass(c, errors.BackendError)],
    ids=ids([c for c in CLASSES if issubclass(c, errors.BackendError)]),
)
def test_a_backend_error_is_the_servers_side_or_a_conflict(cls):
    status = problems.status_of(sample(cls))
    assert status == 409 or status >= 500, f"{cls.__name__} is a {status}: that blames the request"


def test_a_backend_that_failed_is_502_one_unavailable_503_and_a_conflict_409():
    from civic.backends.kubernetes import client
    from civic.backends.local import processes

    assert problems.status_of(errors.BackendError("the cluster refused")) == 502
    assert problems.status_of(processes.RuntimeFailure("cannot start 'python'")) == 502
    assert problems.status_of(errors.BackendUnavailable("the cluster did not answer", delay=5)) == 503
    assert problems.status_of(errors.StoreError("the store is busy")) == 503
    assert problems.status_of(client.Conflict("fields are owned by kubectl", ["spec.replicas"])) == 409


@pytest.mark.parametrize("cls", CLASSES, ids=ids(CLASSES))
def test_the_client_raises_the_class_and_message_the_api_raised(cls):
    e = sample(cls)
    back = problems.error_from(json.loads(json.dumps(problems.body_of(e))))
    assert type(back) is cls
    assert back.message == e.message
    assert repr(back) == repr(e)
    assert back.exit_code == e.exit_code


def test_a_class_the_client_has_not_loaded_comes_back_as_its_nearest_known_base():
    from civic.backends.kubernetes import client

    body = problems.body_of(client.Conflict("the field is owned by another manager", ["spec.replicas"]))
    body["kind"] = "ConflictOfABackendTheClientNeverImported"
    back = problems.error_from(body)
    assert type(back) is errors.BackendConflict
    assert back.message == "the field is owned by another manager"
    assert type(problems.error_from({"kind": "Unheard", "message": "m"})) is errors.CivicError


def test_temporary_and_permanent_errors_show_their_fields_and_keep_their_exit_codes():
    assert repr(errors.TemporaryError("busy", delay=2.0)) == "TemporaryError(message='busy', delay=2.0)"
    assert repr(errors.PermanentError("wrong")) == "PermanentError(message='wrong')"
    assert issubclass(errors.StoreError, errors.TemporaryError)
    assert issubclass(errors.SpecError, errors.PermanentError)
    assert issubclass(errors.PolicyDenied, errors.PermanentError)
    codes = {
        errors.NotFound: 4,
        errors.UsageError: 2,
        errors.LockTimeout: 3,
        errors.SpecError: 1,
        errors.BackendError: 1,
        errors.TemporaryError: 1,
        errors.PermanentError: 1,
    }
    assert {cls: cls.exit_code for cls in codes} == codes
