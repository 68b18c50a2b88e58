"""Tokens die with their team: an apply that deletes a team deletes its tokens, and a team
created again under the same name does not bring back a token made for the one before."""

from __future__ import annotations

import os
import shutil

import pytest
import sqlalchemy as sa

from civic.control import applying, plane
from civic.spec import estate as estate_mod
from civic.store import crypto, deployments
from civic.store.state import StateStore

TEAM = "opg-lpa"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("postgres_url")


def _remove_team(estate_dir: str) -> str:
    """Take the team and its environments out of the estate; where they were kept."""
    kept = os.path.join(os.path.dirname(estate_dir), "kept")
    os.makedirs(os.path.join(kept, "environments"))
    shutil.move(os.path.join(estate_dir, "teams", f"{TEAM}.yaml"), kept)
    for env in ("opg-lpa-dev", "opg-lpa-production"):
        shutil.move(os.path.join(estate_dir, "environments", env), os.path.join(kept, "environments"))
    return kept


def _restore_team(estate_dir: str, kept: str) -> None:
    shutil.move(os.path.join(kept, f"{TEAM}.yaml"), os.path.join(estate_dir, "teams"))
    for env in ("opg-lpa-dev", "opg-lpa-production"):
        shutil.move(os.path.join(kept, "environments", env), os.path.join(estate_dir, "environments"))


def _apply(estate_dir: str, store: StateStore) -> None:
    applying.apply(estate_mod.load(estate_dir), store, allow_delete_production=True)


def test_a_deleted_team_takes_its_tokens_with_it_and_a_new_team_of_that_name_does_not_revive_them(
    estate_dir, tmp_path, state
):
    store = StateStore(state)
    try:
        _apply(estate_dir, store)
        ctx = plane.context(store, crypto.SecretBox.load(str(tmp_path / "secret.key")))
        control = plane.ControlPlane(ctx, plane.Settings(run_dir=str(tmp_path / "run"), monitoring=False))
        records = deployments.Deployments(store)
        token = control.create_token(TEAM)
        other = control.create_token("laa-apply")
        assert records.token_team(token) == (True, TEAM)

        kept = _remove_team(estate_dir)
        _apply(estate_dir, store)
        assert records.token_team(token) == (False, None)
        assert [t.team for t in records.tokens()] == ["laa-apply"]

        _restore_team(estate_dir, kept)
        _apply(estate_dir, store)
        assert records.token_team(token) == (False, None)
        assert records.token_team(other) == (True, "laa-apply")
        fresh = control.create_token(TEAM)
        assert records.token_team(fresh) == (True, TEAM)
    finally:
        store.close()


def test_a_token_left_behind_by_a_deleted_team_is_not_revived_by_a_new_team_of_that_name(estate_dir, state):
    """Even if a token's row outlived its team (a crash between two writes, a store an older
    Civic wrote), the token names the incarnation of the team it was made for."""
    store = StateStore(state)
    try:
        _apply(estate_dir, store)
        records = deployments.Deployments(store)
        token = "civic_left-behind"
        records.add_token(token, team=TEAM)
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(deployments.tokens).where(deployments.tokens.c.team == TEAM)).mappings().one()
        kept = _remove_team(estate_dir)
        _apply(estate_dir, store)
        with store.engine.begin() as conn:
            conn.execute(deployments.tokens.delete().where(deployments.tokens.c.digest == row["digest"]))
            conn.execute(deployments.tokens.insert().values(**row))
        _restore_team(estate_dir, kept)
        _apply(estate_dir, store)
        assert records.token_team(token) == (False, None)
    finally:
        store.close()
