"""Each service's uid: picked from Civic's range as systemd's DynamicUser picks, and kept.

Real folders and claims in a temporary data folder; only root can give a folder to a uid.
"""

from __future__ import annotations

import os

import pytest

from civic.backends.local import identities, tenancy

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a folder to a uid")


def _instance(tmp_path, run: str = "run") -> tenancy.Instance:
    (tmp_path / run).mkdir(exist_ok=True)
    return tenancy.Instance(str(tmp_path / run), root=str(tmp_path / "data"), isolated=True)


def test_a_service_gets_the_first_free_uid_of_its_own_sequence_and_keeps_it_across_restarts(tmp_path):
    first = _instance(tmp_path).tenant("shop-dev", "web")
    assert first.uid in list(identities.candidates(f"{_instance(tmp_path).id}/shop-dev/web"))[:10]
    assert identities.FIRST <= first.uid <= identities.LAST and first.gid == first.uid
    elsewhere = tenancy.Instance(str(tmp_path / "run"), root=str(tmp_path / "other-data"), isolated=True)
    assert elsewhere.tenant("shop-dev", "web").uid == first.uid, "the same key picks the same uid"
    again = _instance(tmp_path).tenant("shop-dev", "web")  # a new control plane, same run dir
    assert again == first
    assert _instance(tmp_path).tenant("shop-dev", "api").uid != first.uid


def test_a_uid_another_service_holds_is_skipped_and_the_choice_is_kept_after_it_is_released(tmp_path):
    instance = _instance(tmp_path)
    wanted = next(identities.candidates(f"{instance.id}/shop-dev/web"))
    squatter = tmp_path / "squatter"
    (squatter / "home").mkdir(parents=True)
    os.chown(squatter / "home", wanted, wanted)
    registry = os.path.join(instance.root, "uids")
    os.makedirs(registry)
    os.symlink(str(squatter), os.path.join(registry, str(wanted)))

    web = instance.tenant("shop-dev", "web")
    assert web.uid != wanted
    identities.release(registry, under=str(squatter))
    assert _instance(tmp_path).tenant("shop-dev", "web").uid == web.uid, "recorded by its home's owner"


def test_a_claim_whose_service_folder_is_gone_is_taken_again(tmp_path):
    gone = _instance(tmp_path, "gone")
    uid = gone.tenant("shop-dev", "web").uid
    os.rmdir(tmp_path / "gone")
    assert tenancy.sweep(gone.root) == [os.path.realpath(tmp_path / "gone")]
    assert not os.path.exists(gone.folder)
    assert uid not in identities.claims(gone.registry)


def test_the_folders_of_a_tenant_are_private_to_its_user(tmp_path):
    tenant = _instance(tmp_path).tenant("shop-dev", "web")
    for path, owner, group, mode in (
        (tenant.folder, 0, tenant.uid, 0o750),
        (tenant.home, tenant.uid, tenant.uid, 0o700),
        (tenant.tmp, tenant.uid, tenant.uid, 0o700),
        (tenant.releases, 0, tenant.uid, 0o750),
    ):
        found = os.stat(path)
        assert (found.st_uid, found.st_gid, found.st_mode & 0o7777) == (owner, group, mode), path
