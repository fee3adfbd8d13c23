# SPDX-License-Identifier: Apache-2.0
"""Bad configuration gives one clear line naming the problem and a non-zero exit."""
import socket
import subprocess

from conftest import TERND, HTTP_LISTENER, base_config, write_config


def run_ternd(config):
    return subprocess.run([str(TERND), "-c", str(config)], capture_output=True, text=True,
                          timeout=60)


def config_with(tmp_path, certs, listeners=HTTP_LISTENER, extra="", mutate=None):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    body = base_config(data, certs[0], certs[1], listeners, extra)
    if mutate:
        body = mutate(body)
    return write_config(tmp_path / "tern.toml", body)


def error_line(result):
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert result.returncode != 0, result.stderr
    assert lines, "no error printed"
    return lines[0]


def test_unknown_key_names_file_line_and_key(tmp_path, certs):
    cfg = config_with(tmp_path, certs, mutate=lambda b: b.replace("[log]", "[log]\nlevle = \"x\""))
    line = error_line(run_ternd(cfg))
    lineno = next(i for i, l in enumerate(cfg.read_text().splitlines(), 1) if l.startswith("levle"))
    assert f"tern.toml:{lineno}" in line, line
    assert "levle" in line and "unknown" in line, line


def test_wrong_type_names_the_key(tmp_path, certs):
    cfg = config_with(tmp_path, certs, extra='[limits]\nmax_connections = "many"\n')
    line = error_line(run_ternd(cfg))
    assert "max_connections" in line and "tern.toml:" in line, line


def test_bad_enum_value(tmp_path, certs):
    cfg = config_with(tmp_path, certs, mutate=lambda b: b.replace('level = "debug"', 'level = "loud"'))
    line = error_line(run_ternd(cfg))
    assert "log.level" in line and "loud" in line, line


def test_toml_syntax_error_has_a_line(tmp_path, certs):
    cfg = config_with(tmp_path, certs, mutate=lambda b: b + "\n[broken\n")
    line = error_line(run_ternd(cfg))
    assert "tern.toml:" in line, line


def test_missing_certificate_file(tmp_path, certs):
    cfg = config_with(tmp_path, certs, mutate=lambda b: b.replace(str(certs[0]), str(tmp_path / "nope.pem")))
    line = error_line(run_ternd(cfg))
    assert "nope.pem" in line, line


def test_port_in_use(tmp_path, certs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = config_with(tmp_path, certs, listeners=HTTP_LISTENER.replace(":0", f":{port}"))
        line = error_line(run_ternd(cfg))
    assert f"127.0.0.1:{port}" in line and "in use" in line, line


def test_missing_config_file(tmp_path):
    result = subprocess.run([str(TERND), "-c", str(tmp_path / "absent.toml")], capture_output=True,
                            text=True, timeout=30)
    line = error_line(result)
    assert "absent.toml" in line, line
