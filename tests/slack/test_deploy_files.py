"""The deployment files stay true to the code: docker-compose.yml, deploy/k8s.yaml, deploy/*.conf|yml and the
Dockerfile name only settings that bot/config.py reads, run `bot` with arguments its parser accepts, and
probe paths the running HTTP server answers with 200."""

from __future__ import annotations

import re
import shlex
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.cli import build_parser
from bot.config import PROJECT_ROOT, Settings
from bot.slack.server import http_server

OURS = re.compile(r"^(BOT|SLACK|ANTHROPIC)_[A-Z0-9_]+$")   # names the bot itself reads (not scripts' credentials)


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def check_env(names: list[str]) -> None:
    known = setting_names()
    for name in names:
        if OURS.match(name):
            assert name in known, f"{name} is not a setting in bot/config.py"


def parses(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    assert args.command == "serve" and args.http
    # In a container 127.0.0.1 (BOT_HTTP_HOST's default) is the container itself: the load balancer,
    # the other containers and Kubernetes' probes could never reach the replica.
    assert args.host == "0.0.0.0", f"{argv}: listen on every interface (--host 0.0.0.0) inside a container"  # noqa: S104
    return args.port


def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())


def k8s() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all((PROJECT_ROOT / "deploy" / "k8s.yaml").read_text())}


def k8s_container() -> dict:
    return k8s()["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def test_compose_runs_two_http_replicas_with_real_settings():
    services = compose()["services"]
    bot = services["opsbot"]
    assert bot["deploy"]["replicas"] == 2
    port = parses(bot["command"])
    assert bot["expose"] == [str(port)]
    example = (PROJECT_ROOT / "deploy" / "opsbot.env.example").read_text()
    env_file_names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.M)
    check_env([*bot["environment"], *env_file_names])
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} <= set(env_file_names)
    assert "postgresql://" in bot["environment"]["BOT_DATABASE_URL"]
    assert f"opsbot:{port}" in (PROJECT_ROOT / "deploy" / "nginx.conf").read_text()
    prometheus = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["dns_sd_configs"][0]["port"] == port
    assert services["postgres"]["image"].startswith("postgres:15")


def test_k8s_deployment_probes_secrets_and_scrape_annotations():
    docs = k8s()
    assert set(docs) >= {"Deployment", "Service", "Ingress"}
    deployment = docs["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    container = k8s_container()
    port = parses(container["args"])
    assert container["ports"][0]["containerPort"] == port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(port)
    env = {e["name"]: e for e in container["env"]}
    check_env(list(env))
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "BOT_DATABASE_URL"):
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name            # secrets never inline
    assert all("value" not in env[n] for n in env if "TOKEN" in n or "SECRET" in n or "KEY" in n)
    paths = [p["path"] for rule in docs["Ingress"]["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == ["/slack/events"]                                          # metrics stay inside


def test_dockerfile_default_command_is_http_mode():
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    cmd = yaml.safe_load(re.search(r"^CMD (\[.*\])$", text, flags=re.M).group(1))
    port = parses(cmd)
    assert f"EXPOSE {port}" in text and "USER opsbot" in text
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".env", "*.env", "bot.yaml", ".bot"} <= set(ignored)


@pytest.fixture
def base(slackbot) -> Iterator[str]:
    server = http_server(slackbot, "127.0.0.1", 0).start()
    yield server.url.removesuffix("/slack/events")
    server.stop()


def test_every_probe_and_scrape_path_is_served(base):
    container = k8s_container()
    paths = {container["readinessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["path"],
             k8s()["Deployment"]["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]}
    compose_check = compose()["services"]["opsbot"]["healthcheck"]["test"]
    paths |= set(re.findall(r"127\.0\.0\.1:\d+(/\w+)", " ".join(compose_check)))
    docker_check = re.search(r"^\s*CMD (\[.*\])$", (PROJECT_ROOT / "Dockerfile").read_text(), flags=re.M)
    paths |= set(re.findall(r"127\.0\.0\.1:\d+(/\w+)", docker_check.group(1)))
    assert paths == {"/readyz", "/healthz", "/metrics"}
    for path in sorted(paths):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            assert response.status == 200, path
            assert response.read(), path


def test_the_deploy_doc_names_real_settings_and_commands():
    text = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    check_env(re.findall(r"`([A-Z][A-Z0-9_]+)`", text))
    for line in re.findall(r"`(bot (?:serve|manifest|stats|health)[^`]*)`", text):
        argv = []
        for token in shlex.split(line)[1:]:
            if token in (">", "|", "&&", ";"):        # the rest is the shell's
                break
            argv.append(token)
        build_parser().parse_args(argv)
    assert Path(PROJECT_ROOT / "deploy" / "k8s.yaml").is_file()
