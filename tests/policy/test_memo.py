"""What a command learns about an estate, kept for the next: unchanged files keep their parsed
YAML and their verdicts; anything changed is parsed and judged again."""

from __future__ import annotations

import datetime
import json
import os
import stat

from civic import policy
from civic.control import memo
from civic.spec import estate as estate_mod

TODAY = datetime.date(2026, 11, 22)


def test_an_unchanged_file_takes_its_verdicts_from_the_memo(estate_dir):
    loaded = estate_mod.load(estate_dir)
    kept = memo.Verdicts()
    first = policy.check_estate(loaded, today=TODAY, memo=kept)
    assert len(kept) >= len(loaded.environments) + len(loaded.teams)
    # doctor one remembered verdict: if the memo is read, the doctored one comes back
    key = next(k for k in kept if k.startswith("environments/laa-apply-dev/"))
    doctored = tuple(v.__class__(**{**v.__dict__, "note": "from the memo"}) for v in kept[key])
    kept[key] = doctored
    again = policy.check_estate(loaded, today=TODAY, memo=kept)
    assert [v for v in again.verdicts if v.note == "from the memo"]
    assert len(again.verdicts) == len(first.verdicts)


def test_a_changed_file_or_day_or_policy_is_judged_again(estate_dir):
    kept = memo.Verdicts()
    policy.check_estate(estate_mod.load(estate_dir), today=TODAY, memo=kept)
    before = set(kept)
    path = os.path.join(estate_dir, "environments", "laa-apply-dev", "environment.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("team: laa-apply", "team: laa-apply\n  # a comment moves lines"))
    policy.check_estate(estate_mod.load(estate_dir), today=TODAY, memo=kept)
    assert len(set(kept) - before) == 1, "only the changed environment was judged again"
    policy.check_estate(estate_mod.load(estate_dir), today=TODAY + datetime.timedelta(days=1), memo=kept)
    assert len(set(kept) - before) > 1 + len(before) // 2, "a new day: exceptions may have expired"


def test_validate_twice_says_the_same_and_sees_a_new_violation(cli, estate_dir):
    first = cli("validate", "--estate", estate_dir, "--output", "json")
    second = cli("validate", "--estate", estate_dir, "--output", "json")
    assert first.code == second.code == 0 and json.loads(first.out) == json.loads(second.out)
    path = os.path.join(estate_dir, "environments", "laa-apply-dev", "environment.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("environmentName: development", "environmentName: production"))
    third = cli("validate", "--estate", estate_dir, "--output", "json")
    assert third.code == 1, "production-flag denies a non-production environment named production"
    assert any(
        v["policy"] == "production-flag" and v["name"] == "laa-apply-dev"
        for v in json.loads(third.out)["policy"]["verdicts"]
        if v["status"] == "violated"
    )


def test_the_memo_is_kept_outside_the_estate_for_its_owner_only(cli, estate_dir):
    assert cli("validate", "--estate", estate_dir).code == 0
    path = memo.path_for(estate_dir)
    assert os.path.exists(path) and not path.startswith(os.path.abspath(estate_dir))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "w") as f:
        f.write("{not a pickle")
    damaged = memo.load(estate_dir)
    assert not damaged.documents and not damaged.verdicts, "a damaged memo is only forgotten"
    assert cli("validate", "--estate", estate_dir).code == 0


def _doctor(estate_dir: str) -> None:
    """Change the remembered document of laa-apply-dev: if it is read, the change shows."""
    kept = memo.load(estate_dir)
    (key,) = [k for k in kept.documents if k[0] == "environments/laa-apply-dev/environment.yaml"]
    doc, fingerprint = kept.documents[key]
    data = {**doc.data, "spec": {**doc.data["spec"], "teamChannel": "#from-the-memo"}}
    kept.documents[key] = (type(doc)(doc.file, data, doc.positions), fingerprint)
    kept.save()


def test_an_unchanged_file_is_not_parsed_again(cli, estate_dir):
    assert cli("validate", "--estate", estate_dir).code == 0
    assert len(memo.load(estate_dir).documents) == 12, "civic.yaml, 3 teams and 8 environments"
    _doctor(estate_dir)
    shown = cli("plan", "--estate", estate_dir, "--output", "json")
    assert "#from-the-memo" in shown.out, "the remembered document was used"


def test_a_changed_file_is_parsed_again(cli, estate_dir):
    assert cli("validate", "--estate", estate_dir).code == 0
    _doctor(estate_dir)
    path = os.path.join(estate_dir, "environments", "laa-apply-dev", "environment.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n# a comment changes the text\n")
    shown = cli("plan", "--estate", estate_dir, "--output", "json")
    assert "#from-the-memo" not in shown.out and "#apply-dev" in shown.out


def test_another_version_of_civic_starts_afresh(cli, estate_dir, monkeypatch):
    assert cli("validate", "--estate", estate_dir).code == 0
    _doctor(estate_dir)
    monkeypatch.setattr(memo, "code_stamp", lambda: "another civic")
    assert not memo.load(estate_dir).documents
    assert "#from-the-memo" not in cli("plan", "--estate", estate_dir, "--output", "json").out


def test_a_memo_someone_else_owns_is_ignored(cli, estate_dir, monkeypatch):
    assert cli("validate", "--estate", estate_dir).code == 0
    _doctor(estate_dir)
    monkeypatch.setattr(os, "getuid", lambda: 4242)
    assert not memo.load(estate_dir).documents, "only its owner's memo is read"
