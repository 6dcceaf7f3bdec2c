"""`cloudtally access`: users, tokens shown once and stored hashed, revocation, the audit log."""

from __future__ import annotations

import json
import re

from cloudtally.access.users import user_for_token
from cloudtally.store import Store


def test_add_prints_the_token_once_and_stores_it_hashed(cli, data_dir) -> None:  # type: ignore[no-untyped-def]
    result = cli("access", "add", "pat", "--role", "viewer", "--team", "payments", "-f", "json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert list(printed) == ["name", "role", "teams", "token"]
    assert printed["name"] == "pat" and printed["role"] == "viewer"
    assert printed["teams"] == ["payments"]
    assert re.fullmatch(r"ctk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", printed["token"])
    listed = cli("access", "list", "-f", "json")
    assert printed["token"] not in listed.stdout
    assert [
        (u["name"], u["role"], u["teams"], u["password"]) for u in json.loads(listed.stdout)
    ] == [("pat", "viewer", ["payments"], False)]
    with Store(data_dir).state() as con:
        user = user_for_token(con, printed["token"])
        assert user is not None and user.name == "pat"
        assert user_for_token(con, printed["token"][:-1] + "x") is None
        stored = con.execute("SELECT token_hash FROM access_users").fetchone()
    assert stored is not None and stored[0].startswith("$argon2id$")
    table = cli("access", "add", "alice", "--role", "admin")
    assert table.stdout.startswith("Created admin 'alice' (sees all).\nAPI token (shown once")


def test_bad_requests_are_refused_with_what_to_do(cli) -> None:  # type: ignore[no-untyped-def]
    cases = {
        ("access", "add", "v", "--role", "viewer"): "A viewer sees the rows of their teams or "
        "products: give --team or --product (use --role finops for someone who reads everything).",
        ("access", "add", "a", "--role", "admin", "--team", "web"): "--team and --product scope "
        "a viewer; a admin sees everything. Use --role viewer to scope the user.",
        ("access", "add", "no spaces", "--role", "admin"): "User name 'no spaces' is not allowed: "
        "use up to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.",
        ("access", "revoke", "nobody"): "No active user 'nobody': `cloudtally access list` shows "
        "them.",
    }
    for args, message in cases.items():
        result = cli(*args)
        assert result.exit_code == 1, args
        assert result.stderr == f"Error: {message}\n"
    assert cli("access", "add", "twice", "--role", "finops").exit_code == 0
    again = cli("access", "add", "twice", "--role", "finops")
    assert again.stderr == (
        "Error: User 'twice' exists: `cloudtally access revoke twice` first to replace it.\n"
    )


def test_revoke_and_re_add(cli, data_dir) -> None:  # type: ignore[no-untyped-def]
    first = json.loads(cli("access", "add", "bo", "--role", "finops", "-f", "json").stdout)
    assert cli("access", "revoke", "bo").stdout == "Revoked finops 'bo'.\n"
    with Store(data_dir).state() as con:
        assert user_for_token(con, first["token"]) is None
    second = json.loads(cli("access", "add", "bo", "--role", "finops", "-f", "json").stdout)
    assert second["token"] != first["token"]
    listed = json.loads(cli("access", "list", "--all", "-f", "json").stdout)
    assert [(u["name"], u["revoked_at"]) for u in listed] == [("bo", None)]
