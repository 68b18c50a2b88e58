"""Deriving civic.service.yaml for a folder without one: each convention, in its order, on
real folders; every derived document loads cleanly with Civic's own loader."""

from __future__ import annotations

import json
import os
import shlex

import pytest

from civic.errors import UsageError
from civic.releases import detection
from civic.spec import loading, models, yamlpos


def folder(tmp_path, files: dict[str, str], name: str = "svc") -> str:
    root = tmp_path / name
    root.mkdir()
    for rel, content in files.items():
        (root / rel).write_text(content)
    return str(root)


def derive(root: str) -> detection.Derived:
    """derive(), and the proof that its document is one civic.service.yaml Civic accepts."""
    derived = detection.derive(root)
    doc, problems = yamlpos.parse(derived.text, file=os.path.join(root, "civic.service.yaml"))
    assert doc is not None and problems == []
    service, problems = loading.load(doc, expect="Service")
    assert problems == [], problems
    assert isinstance(service, models.Service)
    assert doc.data == derived.data
    assert derived.text.startswith(f"# Derived by Civic from {derived.how}.\n")
    assert service.spec.replicas == 1 and service.spec.readiness is None
    assert service.spec.run is not None and service.spec.run.command == shlex.split(command(derived))
    return derived


def command(derived: detection.Derived) -> str:
    return derived.data["spec"]["run"]["command"]


FASTAPI = "from fastapi import FastAPI\n\napp = FastAPI(title='x')\n"
FLASK = "import flask\n\napplication = flask.Flask(__name__)\n"


# --- 1. Procfile ------------------------------------------------------------------


def test_a_procfile_web_line_wins_over_everything_else(tmp_path):
    root = folder(
        tmp_path,
        {
            "Procfile": "release: python manage.py migrate\nweb: gunicorn app:app --bind 127.0.0.1:$PORT\n",
            "app.py": FASTAPI,
            "package.json": '{"scripts": {"start": "node x.js"}}',
        },
    )
    derived = derive(root)
    assert command(derived) == "gunicorn app:app --bind 127.0.0.1:$PORT"
    assert derived.how == "the Procfile's web: line"
    assert derived.data["metadata"] == {"name": "svc"}
    assert derived.data["apiVersion"] == "civic/v1" and derived.data["kind"] == "Service"


def test_a_procfile_command_that_needs_a_shell_runs_through_one(tmp_path):
    line = "cd web && WEB_CONCURRENCY=2 exec gunicorn app:app -w $WEB_CONCURRENCY --bind 127.0.0.1:${PORT}"
    derived = derive(folder(tmp_path, {"Procfile": f"web: {line}\n"}))
    assert shlex.split(command(derived)) == ["sh", "-c", line]


def test_a_procfile_without_a_web_line_falls_through(tmp_path):
    derived = derive(folder(tmp_path, {"Procfile": "worker: python worker.py\n", "main.py": "print(1)\n"}))
    assert command(derived) == "python main.py"


def test_a_procfile_web_line_that_cannot_be_split_is_named_with_its_line(tmp_path):
    root = folder(tmp_path, {"Procfile": "worker: x\nweb: python -c 'print(1)\n"})
    with pytest.raises(UsageError, match=r"Procfile:2: the web: command cannot be read: No closing quotation"):
        detection.derive(root)


# --- 2. Python ----------------------------------------------------------------------


def test_the_project_script_named_like_the_project_else_the_first(tmp_path):
    named = folder(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "Time_Sheets"\n[project.scripts]\n'
            'tsadmin = "ts.admin:main"\ntime-sheets = "ts.web:main"\n',
            "app.py": FASTAPI,
        },
        name="named",
    )
    derived = derive(named)
    assert command(derived) == "time-sheets"
    assert derived.how == "pyproject.toml's [project.scripts] entry 'time-sheets'"
    first = folder(
        tmp_path,
        {"pyproject.toml": '[project]\nname = "x"\n[project.scripts]\nserve = "x:serve"\nadmin = "x:admin"\n'},
        name="first",
    )
    assert command(derive(first)) == "serve"


def test_a_fastapi_app_runs_under_uvicorn_from_requirements(tmp_path):
    root = folder(tmp_path, {"app.py": FASTAPI, "requirements.txt": "# web\nfastapi>=0.110\nUvicorn[standard]==0.29\n"})
    derived = derive(root)
    assert command(derived) == "python -m uvicorn app:app --host 127.0.0.1 --port $PORT"
    assert derived.how == "app.py, a FastAPI app (uvicorn from requirements.txt)"
    assert derived.warnings == ()


def test_a_missing_server_is_a_warning_in_the_result_and_the_text(tmp_path):
    derived = derive(folder(tmp_path, {"app.py": FASTAPI, "requirements.txt": "fastapi\n"}))
    assert command(derived).startswith("python -m uvicorn app:app ")
    assert "not among the dependencies" in derived.how
    assert len(derived.warnings) == 1 and derived.warnings[0].startswith("uvicorn is not in requirements.txt")
    assert f"# warning: {derived.warnings[0]}\n" in derived.text


def test_fastapi_standard_in_pyproject_brings_uvicorn(tmp_path):
    root = folder(
        tmp_path,
        {"main.py": FASTAPI, "pyproject.toml": '[project]\nname = "x"\ndependencies = ["fastapi[standard]"]\n'},
    )
    derived = derive(root)
    assert command(derived) == "python -m uvicorn main:app --host 127.0.0.1 --port $PORT"
    assert derived.how == "main.py, a FastAPI app (uvicorn from pyproject.toml)" and derived.warnings == ()


def test_a_starlette_app_in_main_py_named_application(tmp_path):
    source = "from starlette.applications import Starlette\nroutes = []\napplication: Starlette = Starlette([])\n"
    derived = derive(folder(tmp_path, {"main.py": source, "requirements.txt": "starlette\nuvicorn\n"}))
    assert command(derived) == "python -m uvicorn main:application --host 127.0.0.1 --port $PORT"
    assert derived.how == "main.py, a Starlette app (uvicorn from requirements.txt)"


def test_a_fastapi_factory_runs_with_factory(tmp_path):
    source = "import fastapi\n\ndef create_app():\n    return fastapi.FastAPI()\n"
    derived = derive(folder(tmp_path, {"app.py": source, "requirements.txt": "fastapi\nuvicorn\n"}))
    assert command(derived) == "python -m uvicorn app:create_app --factory --host 127.0.0.1 --port $PORT"


def test_a_flask_app_runs_under_flask_unless_gunicorn_is_a_dependency(tmp_path):
    plain = derive(folder(tmp_path, {"app.py": FLASK, "requirements.txt": "Flask>=3\n"}, name="plain"))
    assert command(plain) == "python -m flask --app app:application run --host 127.0.0.1 --port $PORT"
    assert plain.how == "app.py, a Flask app (flask from requirements.txt)" and plain.warnings == ()

    served = derive(folder(tmp_path, {"app.py": FLASK, "requirements.txt": "flask\ngunicorn==22\n"}, name="served"))
    assert command(served) == "gunicorn --bind 127.0.0.1:$PORT app:application"
    assert served.how == "app.py, a Flask app (gunicorn from requirements.txt)"


def test_a_flask_factory_under_gunicorn_and_flask(tmp_path):
    source = "from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n"
    served = derive(folder(tmp_path, {"app.py": source, "requirements.txt": "flask\ngunicorn\n"}, name="served"))
    assert shlex.split(command(served)) == ["gunicorn", "--bind", "127.0.0.1:$PORT", "app:create_app()"]
    plain = derive(folder(tmp_path, {"app.py": source}, name="plain"))
    assert command(plain) == "python -m flask --app app run --host 127.0.0.1 --port $PORT"
    assert plain.warnings == ("flask is not in requirements.txt or pyproject.toml's dependencies; "
                              "add it, or the release cannot start.",)  # fmt: skip


def test_a_framework_app_whose_variable_cannot_be_found_is_told_to_write_a_spec(tmp_path):
    root = folder(tmp_path, {"app.py": "from fastapi import FastAPI\napps = [FastAPI() for _ in range(2)]\n"})
    with pytest.raises(UsageError, match=r"app\.py imports FastAPI, but .*'app = FastAPI\(' .*civic\.service\.yaml"):
        detection.derive(root)


def test_a_plain_python_file_runs_as_a_program(tmp_path):
    source = "import os, http.server\nhttp.server.test(port=int(os.environ['PORT']))\n# flask is not used\n"
    derived = derive(folder(tmp_path, {"main.py": source}))
    assert command(derived) == "python main.py"
    assert derived.how == "main.py, run as a program that serves HTTP on $PORT"
    app_first = derive(folder(tmp_path, {"main.py": source, "app.py": source}, name="both"))
    assert command(app_first) == "python app.py"


# --- 3. Node ----------------------------------------------------------------------------


def test_a_package_json_start_script_runs_npm_start(tmp_path):
    package = {"name": "x", "scripts": {"start": "node server.js", "build": "tsc"}}
    derived = derive(folder(tmp_path, {"package.json": json.dumps(package)}))
    assert command(derived) == "npm start"
    assert derived.how == "package.json's start script ('node server.js')"


# --- 4. Nothing, and odd input ------------------------------------------------------------


def test_nothing_to_go_on_lists_what_was_looked_for(tmp_path):
    root = folder(tmp_path, {"README.md": "hi", "package.json": '{"scripts": {"build": "tsc"}}'})
    with pytest.raises(UsageError) as e:
        detection.derive(root)
    for looked_for in ("Procfile with a web: line", "pyproject.toml with [project.scripts]", "app.py or main.py",
                       "package.json with a start script", "Write civic.service.yaml"):  # fmt: skip
        assert looked_for in e.value.message


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"pyproject.toml": "[project\nname = 1\n", "app.py": ""}, r"pyproject\.toml is not valid TOML: .*line 1"),
        ({"pyproject.toml": "project = 3\n"}, r"pyproject\.toml: 'project' must be a table, got int"),
        ({"pyproject.toml": "[project.scripts]\nx = 1\n"}, r"pyproject\.toml: \[project\.scripts\] 'x' must be a"),
        (
            {"pyproject.toml": "[project]\ndependencies = 'flask'\n", "app.py": FLASK},
            r"pyproject\.toml: \[project\] dep",
        ),
        ({"pyproject.toml": "a = " + "[" * 5000 + "]" * 5000 + "\n"}, r"pyproject\.toml nests too deeply"),
        ({"package.json": '{"scripts": {"start": }'}, r"package\.json:1:23: not valid JSON: Expecting value"),
        ({"package.json": "[" * 100_000 + "]" * 100_000}, r"package\.json nests too deeply"),
        ({"package.json": '["start"]'}, r"package\.json must hold an object, got list"),
        ({"package.json": '{"scripts": {"start": 1}}'}, r"package\.json: scripts\.start must be a command"),
        ({"package.json": '{"scripts": {"start": "' + "x" * (1 << 20) + '"}}'}, r"package\.json' is larger than 1,024"),
        ({"package.json": b"\xff\xfe{}".decode("latin-1")}, r"package\.json is not UTF-8 text"),
    ],
)
def test_a_file_that_cannot_be_read_is_named_with_what_is_wrong(tmp_path, files, message):
    root = tmp_path / "svc"
    root.mkdir()
    for rel, content in files.items():
        (root / rel).write_bytes(content.encode("latin-1" if "\xff" in content else "utf-8"))
    with pytest.raises(UsageError, match=message):
        detection.derive(str(root))


def test_a_fifo_where_a_file_should_be_is_refused_not_waited_on(tmp_path):
    root = tmp_path / "svc"
    root.mkdir()
    os.mkfifo(root / "Procfile")
    with pytest.raises(UsageError, match="'Procfile' is not a regular file"):
        detection.derive(str(root))


def test_only_the_first_mib_of_a_source_file_is_read(tmp_path):
    padding = "#" * (1 << 20) + "\n"
    late = derive(folder(tmp_path, {"app.py": padding + FASTAPI}, name="late"))
    assert command(late) == "python app.py"  # the import lies beyond what is read


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("My_Service", "my-service"),
        ("Café.Menu v2", "cafe-menu-v2"),
        ("--api--", "api"),
        ("x" * 70, "x" * 63),
        ("a" * 62 + "-b", "a" * 62),
    ],
)
def test_the_folder_name_becomes_the_service_name(tmp_path, name, label):
    derived = derive(folder(tmp_path, {"main.py": "print(1)\n"}, name=name))
    assert derived.data["metadata"]["name"] == label


def test_a_folder_name_with_nothing_usable_is_told_to_write_a_spec(tmp_path):
    root = folder(tmp_path, {"main.py": "print(1)\n"}, name="___")
    with pytest.raises(UsageError, match=r"the folder name '___' gives no valid service name.*metadata\.name"):
        detection.derive(root)


def test_a_folder_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(UsageError, match=r"'.*nowhere' does not exist"):
        detection.derive(str(tmp_path / "nowhere"))
