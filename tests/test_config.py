"""pip's and conda's configuration: read as pip and conda read it (real pip as the oracle for
which file is read and which value wins), judged by the ``config-*`` checks, and each printed
``pip config`` command run for real (in a private HOME) until the finding is gone."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from artefacts import make_venv, write_dist_info
from conftest import Runner
from pkgdoctor.configuration import conda_settings, pip_file_values, pip_settings
from pkgdoctor.look.config import collect, conda_files, pip_files
from pkgdoctor.snapshot.model import ConfigFacts
from pkgdoctor.target import find_target
from wheel_artefacts import Entry, SimpleIndex, make_wheel, serve

# What points pip, conda and the HTTP clients at configuration: replaced by each test's own.
_MACHINE = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "CONDARC", "CONDA_ROOT")


def private_environ(home: Path, **extra: str) -> dict[str, str]:
    """This process's variables with a private HOME and XDG directories, and no pip, conda or
    CA bundle setting of the machine (its /etc/pip.conf stays: pip always reads it)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "XDG_", "CONDA_")) and k not in _MACHINE
    }
    env.update(HOME=str(home), XDG_CONFIG_DIRS=str(home / "xdg"))
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private HOME for this process (and so for in-process pkgdoctor runs)."""
    directory = tmp_path / "home"
    directory.mkdir()
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in private_environ(directory).items():
        monkeypatch.setenv(name, value)
    yield directory


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def pip_says(env: dict[str, str], python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Real pip, running for ``python``'s environment (its site level is that prefix)."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


# pip's Configuration: up to pip 23 items() is the merged dictionary; from pip 24 on it
# maps each file to its values, and get_value merges them. Variables (":env:") left out.
_WINNERS = """
import json
from pip._internal.configuration import Configuration
configuration = Configuration(isolated=False)
configuration.load()
keys = []
for key, value in configuration.items():
    keys += list(value) if isinstance(value, dict) else [key]
print(json.dumps({k: configuration.get_value(k) for k in keys if not k.startswith(":env:")}))
"""


def pips_winners(env: dict[str, str], python: Path) -> dict[str, str]:
    """``section.key`` -> value, as pip's Configuration merges its files (for ``python``'s
    environment, with the pip of the Python running the tests)."""
    import pip

    where = str(Path(pip.__file__).parent.parent)
    proc = subprocess.run(
        [str(python), "-c", _WINNERS],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": where},
        check=True,
    )
    winners: dict[str, str] = json.loads(proc.stdout)
    return winners


def config_findings(result: Any) -> list[dict[str, Any]]:
    return [f for f in result.json["findings"] if f["code"].startswith("config-")]


# --- reading: the files pip reads and the values that win, as pip says -------------------------


@pytest.mark.parametrize("explicit", [False, True])
def test_files_and_winning_values_are_pips(tmp_path: Path, explicit: bool) -> None:
    home = tmp_path / "home"
    venv = make_venv(tmp_path / "venv")
    write(
        home / "xdg/pip/pip.conf", "[global]\ntimeout = 30\n[install]\ntrusted-host = g.example\n"
    )
    write(home / ".pip/pip.conf", "[global]\ntimeout = 40\nindex-url = https://legacy.example/s\n")
    write(home / ".config/pip/pip.conf", "[global]\nindex-url = https://user.example/s\n")
    write(venv.prefix / "pip.conf", "[global]\nretries = 3\n[install]\ntrusted-host = s.example\n")
    extra = {}
    if explicit:  # PIP_CONFIG_FILE: read last, and the user files are skipped
        extra["PIP_CONFIG_FILE"] = str(
            write(tmp_path / "explicit.conf", "[global]\nretries = 9\n[freeze]\nall = yes\n")
        )
    env = private_environ(home, **extra)

    ours = pip_files(env, site_prefix=str(venv.prefix))
    debug = pip_says(env, venv.python, "config", "debug")
    assert debug.returncode == 0, debug.stderr
    theirs = set()
    level = ""
    names = {"env": "PIP_CONFIG_FILE"}
    for line in debug.stdout.splitlines():
        if not line.startswith(" "):
            level = names.get(line.rstrip(":"), line.rstrip(":"))
        elif ", exists: " in line and level != "env_var":
            path, _, exists = line.strip().rpartition(", exists: ")
            theirs.add((level, path, exists == "True"))
    assert {(f.level, f.path, f.exists) for f in ours} == theirs

    # The winner of each key, from pip's own Configuration (`pip config list` printed the
    # merged values up to pip 23; from pip 24 on it prints every file's, and `config get`
    # reads one level), run by the venv's Python so that its site level is the venv's.
    assert {k: v.value for k, v in pip_file_values(ours).items()} == pips_winners(env, venv.python)


def test_pip_config_file_devnull_skips_every_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    venv = make_venv(tmp_path / "venv")
    write(home / ".config/pip/pip.conf", "[global]\nindex-url = https://user.example/s\n")
    env = private_environ(home, PIP_CONFIG_FILE=os.devnull)
    got = pip_says(env, venv.python, "config", "get", "global.index-url")
    assert got.returncode != 0 and "No such key" in got.stderr
    files = pip_files(env, site_prefix=str(venv.prefix))
    assert not any(f.exists for f in files) and pip_file_values(files) == {}


def test_variables_replace_files_and_each_value_names_its_origin(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user = write(home / ".config/pip/pip.conf", "[global]\ntrusted-host = a.example\ncert = /x\n")
    env = private_environ(home, PIP_CERT="/from-variable.pem")
    settings = pip_settings(pip_files(env), env)
    assert (settings.cert, settings.origins["cert"]) == ("/from-variable.pem", "PIP_CERT")
    assert settings.trusted_hosts == ["a.example"]
    assert settings.origins["trusted_hosts"] == f"{user} [global]"


def test_credentials_stay_out_of_the_snapshot(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".config/pip/pip.conf", "[global]\nindex-url = https://me:s3cret@idx.example/s\n")
    env = private_environ(home, PIP_EXTRA_INDEX_URL="https://u:tok@x.example/s")
    facts = collect(find_target(python=sys.executable), env)
    values = [v for f in facts.pip_files for _, _, v in f.items]
    assert "https://***@idx.example/s" in values
    assert facts.pip_environ["PIP_EXTRA_INDEX_URL"] == "https://***@x.example/s"
    assert "s3cret" not in repr(facts) and "tok@" not in repr(facts)


# --- conda's levels and merge rules -----------------------------------------------------------


def test_condarc_levels_merge_as_conda_documents(tmp_path: Path) -> None:
    """conda's rules (docs "Using the .condarc conda configuration file", "Searching for
    .condarc"; conda/common/configuration.py): files in SEARCH_PATH order, then the CONDA_*
    variables; lists merge with the later sources' entries first, each entry once; a scalar
    takes the last source's value; ``#!final`` stops later sources."""
    home = tmp_path / "home"
    prefix = tmp_path / "env"
    xdg = write(home / "cfg/conda/.condarc", "channel_priority: strict\n")
    dropin = write(home / ".conda/condarc.d/10-forge.yml", "channels:\n  - conda-forge\n")
    write(home / ".conda/condarc.d/notes.txt", "channels: [ignored]\n")  # not *.yml: unread
    user = write(home / ".condarc", "channels: [defaults, conda-forge]\npkgs_dirs: [/p/user]\n")
    env_rc = write(prefix / ".condarc", "channel_priority: disabled\npkgs_dirs: [/p/env]\n")
    explicit = write(tmp_path / "explicit.yml", "channels:\n  - pytorch\n")
    environ = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "cfg"), "CONDARC": str(explicit)}
    files = conda_files(environ, str(prefix))
    assert [(f.level, f.path) for f in files] == [
        ("user", str(xdg)),
        ("user", str(dropin)),
        ("user", str(user)),
        ("env", str(env_rc)),
        ("CONDARC", str(explicit)),
    ]
    merged = conda_settings(ConfigFacts(conda_files=files))
    assert [(c.value, c.origin) for c in merged.channels] == [
        ("pytorch", str(explicit)),
        ("defaults", str(user)),
        ("conda-forge", str(user)),
    ]
    assert [p.value for p in merged.pkgs_dirs] == ["/p/env", "/p/user"]
    assert (merged.channel_priority and merged.channel_priority.origin) == str(env_rc)

    environ["CONDA_CHANNEL_PRIORITY"] = "flexible"
    environ["CONDA_CHANNELS"] = "bioconda,conda-forge"
    merged = conda_settings(ConfigFacts(conda_files=files, conda_environ=environ))
    assert merged.channel_priority is not None
    assert (merged.channel_priority.value, merged.channel_priority.origin) == (
        "flexible",
        "CONDA_CHANNEL_PRIORITY",
    )
    assert [c.value for c in merged.channels][:3] == ["bioconda", "conda-forge", "pytorch"]

    xdg.write_text("channel_priority: strict  #!final\n")
    merged = conda_settings(
        ConfigFacts(conda_files=conda_files(environ, str(prefix)), conda_environ=environ)
    )
    assert merged.channel_priority is not None
    assert (merged.channel_priority.value, merged.channel_priority.origin) == ("strict", str(xdg))


def test_a_condarc_conda_cannot_parse_is_set_aside(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".condarc", "channels: [unclosed\n")
    (broken,) = conda_files({"HOME": str(home)}, None)
    assert broken.error is not None and str(home / ".condarc") in broken.error
    assert conda_settings(ConfigFacts(conda_files=(broken,))).channels == ()


# --- the checks, on real configuration, with real fixes -----------------------------------------


def run_fix(command: str) -> None:
    """A printed fix, run as the user would paste it (in this test's private HOME)."""
    proc = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (command, proc.stdout, proc.stderr)


@pytest.mark.user_config
def test_insecure_pip_configuration_and_its_fixes(
    pkgdoctor: Runner, tmp_path: Path, home: Path
) -> None:
    venv = make_venv(tmp_path / "venv")
    user = write(
        home / ".config/pip/pip.conf",
        "[global]\nindex-url = http://mirror.example.com/simple\n"
        "extra-index-url = https://vendor.example.com/simple\n"
        "trusted-host = mirror.example.com\ncert = /nonexistent/ca.pem\n",
    )
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    found = {(f["code"], f["severity"], f["evidence"].get("set")) for f in config_findings(result)}
    origin = f"{user} [global]"
    assert found == {
        ("config-insecure-index", "warning", origin),  # http:// index
        ("config-insecure-index", "warning", origin),  # trusted-host
        ("config-insecure-index", "error", origin),  # cert that does not exist
        ("config-extra-index-confusion", "warning", None),
    }
    insecure = [f for f in config_findings(result) if f["code"] == "config-insecure-index"]
    assert len(insecure) == 3
    assert sorted(f["command"] for f in insecure) == [
        "python3 -m pip config --user set global.index-url https://mirror.example.com/simple",
        "python3 -m pip config --user unset global.cert",
        "python3 -m pip config --user unset global.trusted-host",
    ]
    for finding in insecure:
        run_fix(finding["command"])
    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert [f["code"] for f in config_findings(after)] == ["config-extra-index-confusion"]
    assert "index-url = https://mirror.example.com/simple" in user.read_text()


@pytest.mark.user_config
def test_a_pip_conf_pip_cannot_parse(pkgdoctor: Runner, tmp_path: Path, home: Path) -> None:
    venv = make_venv(tmp_path / "venv")
    user = write(home / ".config/pip/pip.conf", "[global\nindex-url = https://x.example/s\n")
    pip = pip_says(dict(os.environ), venv.python, "config", "list")
    assert pip.returncode != 0 and "could not be loaded" in pip.stderr
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = config_findings(result)
    assert (finding["code"], finding["severity"], finding["path"]) == (
        "config-unreadable",
        "error",
        str(user),
    )
    assert result.status == 1


@pytest.mark.user_config
def test_a_retired_mirror_and_its_fix(pkgdoctor: Runner, tmp_path: Path, home: Path) -> None:
    venv = make_venv(tmp_path / "venv")
    write(home / ".config/pip/pip.conf", "[global]\nindex-url = https://pypi.douban.com/simple\n")
    (finding,) = config_findings(pkgdoctor("check", "--prefix", str(venv.prefix), "--json"))
    assert finding["code"] == "config-index-retired"
    assert "ibigbug/pypi-mirrors#5" in finding["evidence"]["source"]
    assert finding["command"] == "python3 -m pip config --user unset global.index-url"
    run_fix(finding["command"])
    assert config_findings(pkgdoctor("check", "--prefix", str(venv.prefix), "--json")) == []


@pytest.mark.user_config
def test_a_local_version_behind_a_pypi_mirror(
    pkgdoctor: Runner, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "venv")
    write_dist_info(venv.site_packages, "torchish", "2.5.1+cu118", [])
    write_dist_info(venv.site_packages, "plain", "1.0", [])
    args = ("check", "--prefix", str(venv.prefix), "--json")
    assert config_findings(pkgdoctor(*args)) == []  # pip's default index: nothing configured
    variable = "https://pypi.tuna.tsinghua.edu.cn/simple"
    monkeypatch.setenv("PIP_INDEX_URL", variable)
    (finding,) = config_findings(pkgdoctor(*args))
    assert (finding["code"], finding["distribution"]) == (
        "config-index-hides-local-version",
        "torchish",
    )
    assert finding["evidence"]["indexes"] == [f"{variable} (PIP_INDEX_URL)"]
    # An index that is not PyPI's may serve +cu118 builds: nothing to say.
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://download.pytorch.org/whl/cu118")
    codes = [f["code"] for f in config_findings(pkgdoctor(*args))]
    assert "config-index-hides-local-version" not in codes


@pytest.mark.user_config
def test_conda_channels_mixed_priority_disabled_and_ca_bundles(
    pkgdoctor: Runner, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "venv")
    user = write(
        home / ".condarc",
        "channels:\n  - conda-forge\n  - defaults\nssl_verify: /nonexistent/corp.pem\n",
    )
    env_rc = write(venv.prefix / ".condarc", "channel_priority: disabled\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    by_code: dict[str, list[dict[str, Any]]] = {}
    for finding in config_findings(result):
        by_code.setdefault(finding["code"], []).append(finding)
    assert sorted(by_code) == [
        "config-ca-bundle-missing",
        "config-conda-channels-mixed",
        "config-conda-priority-disabled",
    ]
    (mixed,) = by_code["config-conda-channels-mixed"]
    assert mixed["evidence"]["channels"] == [f"conda-forge ({user})", f"defaults ({user})"]
    assert mixed["evidence"]["channel_priority"] == f"disabled ({env_rc})"
    assert mixed["command"] == f"conda config --file {user} --remove channels defaults"
    (priority,) = by_code["config-conda-priority-disabled"]
    assert priority["command"] == f"conda config --file {env_rc} --set channel_priority strict"
    bundles = {f["evidence"]["set"]: f["path"] for f in by_code["config-ca-bundle-missing"]}
    assert bundles == {
        "REQUESTS_CA_BUNDLE": "/nonexistent/bundle.pem",
        str(user): "/nonexistent/corp.pem",
    }


def test_the_suite_judges_without_the_machines_configuration(
    pkgdoctor: Runner, tmp_path: Path
) -> None:
    """Unmarked tests see no pip.conf and no CA variables of this machine."""
    venv = make_venv(tmp_path / "venv")
    assert config_findings(pkgdoctor("check", "--prefix", str(venv.prefix), "--json")) == []


# --- check --online ---------------------------------------------------------------------------


def index_with(directory: Path, projects: dict[str, list[str]]) -> SimpleIndex:
    index = SimpleIndex(directory / "simple")
    for name, versions in projects.items():
        for version in versions:
            index.add(name, Entry(make_wheel(directory / "dist", name, version)))
    return index


@pytest.mark.user_config
def test_online_names_on_both_indexes(
    pkgdoctor: Runner, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "venv")
    write_dist_info(venv.site_packages, "demo", "1.0", [])
    write_dist_info(venv.site_packages, "only-first", "1.0", [])
    index_with(tmp_path / "a", {"demo": ["1.0"], "only-first": ["1.0"]})
    index_with(tmp_path / "b", {"demo": ["1.0", "2.0"]})
    with serve(tmp_path / "a") as first, serve(tmp_path / "b") as second:
        monkeypatch.setenv("PIP_INDEX_URL", f"{first.url}/simple")
        monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"{second.url}/simple")
        offline = config_findings(pkgdoctor("check", "--prefix", str(venv.prefix), "--json"))
        online = config_findings(
            pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--online")
        )
    assert [f["code"] for f in offline] == ["config-extra-index-confusion"]
    (finding,) = online
    assert finding["severity"] == "warning"
    evidence = finding["evidence"]
    assert evidence["on several indexes"] == [
        f"demo ({first.url}/simple 1.0, {second.url}/simple 2.0)"
    ]
    assert evidence["newest not on the first index"] == [
        f"demo: 2.0 on {second.url}/simple, 1.0 on {first.url}/simple"
    ]
    assert evidence["names looked up"] == 2


@pytest.mark.user_config
def test_online_an_index_that_does_not_answer(
    pkgdoctor: Runner, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "venv")
    write_dist_info(venv.site_packages, "demo", "1.0", [])
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # discard port: refused
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--online")
    (finding,) = config_findings(result)
    assert finding["code"] == "config-index-retired"
    assert "did not answer" in finding["message"]


@pytest.mark.user_config
def test_a_site_level_value_is_fixed_in_the_targets_pip_conf(
    pkgdoctor: Runner, tmp_path: Path, home: Path
) -> None:
    venv = make_venv(tmp_path / "venv")  # no pip inside: pip reaches it with --python
    site = write(venv.prefix / "pip.conf", "[install]\ntrusted-host = build.example\n")
    (finding,) = config_findings(pkgdoctor("check", "--prefix", str(venv.prefix), "--json"))
    assert finding["evidence"]["set"] == f"{site} [install]"
    assert finding["command"] == (
        f"python3 -m pip --python {venv.python} config --site unset install.trusted-host"
    )
    run_fix(finding["command"])
    assert config_findings(pkgdoctor("check", "--prefix", str(venv.prefix), "--json")) == []
