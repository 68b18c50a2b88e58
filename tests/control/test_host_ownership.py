"""A hostname belongs to the environment that claimed it first, in the estate or by a deploy;
names under ``<environment>.<baseDomain>`` belong to that environment from the start. A
deploy that claims another environment's hostname is denied by the policy
``hostname-owned``; an apply that claims a hostname another environment's deploy holds is
refused; and a route host that is not a hostname never reaches HAProxy's map."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from civic import policy
from civic.control import applying, deploying, plane
from civic.errors import PlanError, PolicyDenied, SpecError
from civic.spec import estate as estate_mod
from civic.store import crypto
from civic.store.state import StateStore

MINE, THEIRS = "opg-lpa-dev", "laa-apply-dev"


def service(name: str, *routes: str) -> str:
    text = (
        f"apiVersion: civic/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n"
        "  run: {command: python -m http.server $PORT}\n"
        "  resources: {cpu: 250m, memory: 128Mi}\n"
    )
    if routes:
        text += "  routes:\n" + "".join(f"    - host: {host}\n" for host in routes)
    return text


@pytest.fixture
def control(estate_dir, tmp_path) -> Iterator[plane.ControlPlane]:
    store = StateStore(str(tmp_path / "state.db"))
    applying.apply(estate_mod.load(estate_dir), store)
    box = crypto.SecretBox.load(os.path.join(tmp_path, "secret.key"))
    ctx = plane.context(store, box, policies=policy.policy_set(estate_mod.load(estate_dir)))
    try:
        yield plane.ControlPlane(ctx, plane.Settings(run_dir=str(tmp_path / "run"), monitoring=False))
    finally:
        store.close()


def deploy(control: plane.ControlPlane, env: str, text: str) -> dict:
    return control.deploy(control.environment(env), text=text, file="civic.service.yaml", overrides=[], by="t")


def test_a_deploy_cannot_route_another_environments_service_host(control):
    deploy(control, MINE, service("hello"))
    with pytest.raises(PolicyDenied) as e:
        deploy(control, THEIRS, service("evil", f"hello.{MINE}.localhost"))
    assert (
        f"  civic.service.yaml:7:3: hostname 'hello.{MINE}.localhost' belongs to environment '{MINE}'; "
        "a service may route only its own environment's hostnames."
    ) in e.value.message
    assert e.value.message.endswith("[hostname-owned]")
    assert control.ctx.records.current(THEIRS) == []


def test_names_under_an_environment_are_its_own_before_any_deploy(control):
    with pytest.raises(PolicyDenied) as e:
        deploy(control, THEIRS, service("evil", f"later.{MINE}.localhost", f"a.b.{MINE}.localhost"))
    assert f"hostname 'later.{MINE}.localhost' belongs to environment '{MINE}'" in e.value.message
    assert f"hostname 'a.b.{MINE}.localhost' belongs to environment '{MINE}'" in e.value.message
    deploy(control, MINE, service("later", f"later.{MINE}.localhost"))


def test_a_host_of_another_environment_in_the_estate_is_theirs(control):
    with pytest.raises(PolicyDenied) as e:
        deploy(control, MINE, service("evil", "apply-for-legal-aid.service.justice.gov.uk"))
    assert (
        "hostname 'apply-for-legal-aid.service.justice.gov.uk' belongs to environment 'laa-apply-production'"
        in e.value.message
    )


def test_the_first_deploy_to_claim_a_host_owns_it(control):
    deploy(control, MINE, service("shop", "shop.localhost"))
    with pytest.raises(PolicyDenied) as e:
        deploy(control, THEIRS, service("shop", "shop.localhost"))
    assert f"hostname 'shop.localhost' belongs to environment '{MINE}'" in e.value.message
    deploy(control, MINE, service("shop"))  # the route removed: the name stays the environment's
    deploy(control, MINE, service("other", "shop.localhost"))
    with pytest.raises(PolicyDenied):
        deploy(control, THEIRS, service("shop", "shop.localhost"))


def test_an_apply_cannot_give_an_environment_a_host_another_environment_holds(control, estate_dir):
    deploy(control, MINE, service("shop", "shop.localhost"))
    path = os.path.join(estate_dir, "environments", THEIRS, "environment.yaml")
    with open(path, "a") as f:
        f.write("  hosts: [shop.localhost]\n")
    with pytest.raises(PlanError) as e:
        applying.apply(estate_mod.load(estate_dir), control.ctx.store)
    assert (
        f"environment '{THEIRS}' claims hostname 'shop.localhost', which belongs to environment '{MINE}'"
        in e.value.message
    )
    assert control.ctx.store.environment(THEIRS).spec.hosts == []


def test_the_estate_cannot_give_an_environment_a_name_under_another(estate_dir):
    path = os.path.join(estate_dir, "environments", THEIRS, "environment.yaml")
    with open(path, "a") as f:
        f.write(f"  hosts: [hello.{MINE}.localhost]\n")
    with pytest.raises(SpecError) as e:
        estate_mod.load(estate_dir)
    assert [str(p) for p in e.value.problems] == [
        f"environments/{THEIRS}/environment.yaml:26:11: spec.hosts[0].name: hostname "
        f"'hello.{MINE}.localhost' is under '{MINE}.localhost', where environment '{MINE}' "
        "serves its services; use a name of your own."
    ]


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        (
            '"evil.localhost\\nhello.opg-lpa-dev.localhost/ laa-apply-dev_evil"',
            "'evil.localhost\\nhello.opg-lpa-dev.localhost/ laa-apply-dev_evil'",
        ),
        ('"a b.localhost"', "'a b.localhost'"),
        ('"a;b.localhost"', "'a;b.localhost'"),
        ('"UPPER.localhost#x"', "'UPPER.localhost#x'"),
        ('"tab\\tx.localhost"', "'tab\\tx.localhost'"),
    ],
)
def test_a_route_host_that_is_not_a_hostname_is_refused_at_its_line(host, shown):
    with pytest.raises(SpecError) as e:
        deploying.parse(service("web", host), file="civic.service.yaml")
    [problem] = e.value.problems
    assert str(problem).startswith(f"civic.service.yaml:8:7: spec.routes[0].host: {shown} is not a hostname")


@pytest.mark.parametrize("prefix", ['"/\\nhello.opg-lpa-dev.localhost/ laa-apply-dev_evil"', '"/a b"', '"api"'])
def test_a_route_path_that_is_not_a_url_path_is_refused_at_its_line(prefix):
    text = service("web") + f"  routes:\n    - pathPrefix: {prefix}\n"
    with pytest.raises(SpecError) as e:
        deploying.parse(text, file="civic.service.yaml")
    [problem] = e.value.problems
    assert str(problem).startswith("civic.service.yaml:8:7: spec.routes[0].pathPrefix: ")
    assert "is not a URL path; start it with '/'" in problem.message


def test_policy_list_and_explain_show_hostname_owned(cli):
    listed = cli("policy", "list")
    assert listed.code == 0 and "hostname-owned" in listed.out
    explained = cli("policy", "explain", "hostname-owned")
    assert explained.code == 0, explained.err
    assert "claimed it first" in explained.out and "owned_hostnames" in explained.out


def test_the_store_refuses_a_second_first_claim_even_past_the_policy(control):
    """Two deploys judged at once cannot both take a hostname: the claim is checked again in
    the transaction that records the revision, and nothing is recorded when it is taken."""
    deploy(control, MINE, service("shop", "shop.localhost"))
    records = control.ctx.records
    with pytest.raises(PolicyDenied) as e:
        records.add_revision(THEIRS, "shop", spec={"kind": "Service"}, by="t", hosts=["shop.localhost"])
    assert (
        "hostname 'shop.localhost' belongs to environment 'opg-lpa-dev' (by a deploy of service 'shop')"
        in e.value.message
    )
    assert records.current(THEIRS) == [] and records.host_owners(["shop.localhost"]) == {"shop.localhost": (MINE,)}


def test_an_environment_taken_out_of_the_estate_lets_go_of_its_hostnames(control, estate_dir):
    deploy(control, MINE, service("shop", "shop.localhost"))
    records = control.ctx.records
    assert records.host_owners(["apply-for-legal-aid.service.justice.gov.uk"]) == {
        "apply-for-legal-aid.service.justice.gov.uk": ("laa-apply-production",)
    }
    shutil.rmtree(os.path.join(estate_dir, "environments", MINE))
    applying.apply(estate_mod.load(estate_dir), control.ctx.store)
    assert records.host_owners(["shop.localhost"]) == {}
    deploy(control, THEIRS, service("shop", "shop.localhost"))
    assert records.host_owners(["shop.localhost"]) == {"shop.localhost": (THEIRS,)}


def test_a_host_every_claim_shares_in_the_estate_is_each_of_theirs_and_no_one_elses(estate_dir, tmp_path):
    shared = "forms.service.justice.gov.uk"
    for env in (MINE, THEIRS):
        with open(os.path.join(estate_dir, "environments", env, "environment.yaml"), "a") as f:
            f.write(f"  hosts: [{{name: {shared}, shared: true}}]\n")
    store = StateStore(str(tmp_path / "state.db"))
    try:
        applying.apply(estate_mod.load(estate_dir), store)
        box = crypto.SecretBox.load(os.path.join(tmp_path, "secret.key"))
        ctx = plane.context(store, box, policies=policy.policy_set(estate_mod.load(estate_dir)))
        control = plane.ControlPlane(ctx, plane.Settings(run_dir=str(tmp_path / "run"), monitoring=False))
        deploy(control, MINE, service("forms", shared))
        deploy(control, THEIRS, service("forms", shared))
        with pytest.raises(PolicyDenied) as e:
            deploy(control, "hmpps-book-visit-dev", service("forms", shared))
        assert f"hostname '{shared}' belongs to environments '{THEIRS}', '{MINE}'" in e.value.message
        applying.apply(estate_mod.load(estate_dir), store)  # the deploys' claims do not stop the estate's
    finally:
        store.close()


def test_an_environments_own_name_under_the_base_domain_is_its_own(control, estate_dir):
    with pytest.raises(PolicyDenied) as e:
        deploy(control, THEIRS, service("evil", f"{MINE}.localhost"))
    assert f"hostname '{MINE}.localhost' belongs to environment '{MINE}'" in e.value.message
    deploy(control, MINE, service("home", f"{MINE}.localhost"))
    with open(os.path.join(estate_dir, "environments", THEIRS, "environment.yaml"), "a") as f:
        f.write(f"  hosts: [{MINE}.localhost]\n")
    with pytest.raises(SpecError) as e:
        estate_mod.load(estate_dir)
    assert f"hostname '{MINE}.localhost' is the name of environment '{MINE}' under the base domain" in str(e.value)
