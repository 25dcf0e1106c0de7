"""The quiet console: library logs, Python warnings, C-level writes and child processes go to the run's
log file; synthgen's own output stays on the terminal; --verbose changes nothing; all is restored after."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from synthgen.console import LOG_NAME, quiet_console

NOISY = textwrap.dedent("""
    import logging, os, subprocess, sys, warnings
    from pathlib import Path
    from synthgen.console import quiet_console

    run_dir = Path(sys.argv[1]); verbose = sys.argv[2] == "1"
    run_dir.mkdir(exist_ok=True); (run_dir / "run.json").write_text("{}")
    with quiet_console(run_dir, verbose=verbose):
        logging.getLogger("vllm.engine").warning("vllm-logger-line")
        logging.getLogger("torch.distributed").warning("torch-logger-line")
        warnings.warn("python-warning-line", FutureWarning)
        os.write(2, b"c-level-fd2-line\\n")
        os.write(1, b"c-level-fd1-line\\n")
        subprocess.run([sys.executable, "-c", "import sys; print('child-stdout-line'); "
                        "print('child-stderr-line', file=sys.stderr)"], check=True)
        env_config = os.environ.get("VLLM_LOGGING_CONFIG_PATH")
        print("config:", bool(env_config))
        logging.getLogger("synthgen.run").warning("synthgen-warning-line")
        print("SUMMARY-LINE")
        print("BAR-LINE", file=sys.stderr)
    os.write(2, b"after-fd2-line\\n")
    print("config after:", bool(os.environ.get("VLLM_LOGGING_CONFIG_PATH")))
""")
LIBRARY_LINES = ["vllm-logger-line", "torch-logger-line", "python-warning-line", "c-level-fd2-line",
                 "c-level-fd1-line", "child-stdout-line", "child-stderr-line"]


def run_noisy(tmp_path: Path, verbose: bool) -> tuple[str, Path]:
    script = tmp_path / "noisy.py"
    script.write_text(NOISY)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    env.pop("VLLM_LOGGING_CONFIG_PATH", None)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "run"), "1" if verbose else "0"],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    return done.stdout + done.stderr, tmp_path / "run" / "logs" / LOG_NAME


def test_library_output_goes_to_the_log_and_synthgen_output_stays(tmp_path):
    console, log = run_noisy(tmp_path, verbose=False)
    for line in LIBRARY_LINES:
        assert line not in console, console
        assert line in log.read_text(), line
    for line in ("SUMMARY-LINE", "BAR-LINE", "synthgen-warning-line", "config: True", "after-fd2-line",
                 "config after: False"):
        assert line in console
    assert "SUMMARY-LINE" not in log.read_text()


def test_verbose_shows_everything_and_writes_no_log(tmp_path):
    console, log = run_noisy(tmp_path, verbose=True)
    for line in [*LIBRARY_LINES, "SUMMARY-LINE", "config: False"]:
        assert line in console, line
    assert not log.exists()


def test_a_foreign_folder_gets_no_logs_and_a_failure_names_the_log(tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    try:
        with quiet_console(foreign) as log:
            logging.getLogger("transformers").warning("kept aside")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not (foreign / "logs").exists()
    assert "kept aside" in log.path.read_text() and f"library log: {log.path}" in capsys.readouterr().err


def test_loggers_are_restored_and_an_empty_log_leaves_nothing(tmp_path):
    vllm = logging.getLogger("vllm")
    before = (list(vllm.handlers), vllm.propagate)
    with quiet_console(tmp_path) as log:
        assert vllm.propagate is False and len(vllm.handlers) == 1
    assert (list(vllm.handlers), vllm.propagate) == before
    assert not log.path.parent.exists() and not (tmp_path / "logs").exists()


def test_a_new_run_gets_its_log_once_it_is_a_run(tmp_path):
    run_dir = tmp_path / "runs" / "fresh"
    with quiet_console(run_dir) as log:
        assert not run_dir.exists()  # nothing written where synthgen's ownership check would see it
        logging.getLogger("datasets").warning("first run line")
        run_dir.mkdir(parents=True)
        (run_dir / "run.json").write_text("{}")
    assert log.path == run_dir / "logs" / LOG_NAME and "first run line" in log.path.read_text()
    with quiet_console(run_dir) as again:  # a resumed run appends in place
        assert again.path == log.path
        logging.getLogger("datasets").warning("resumed line")
    assert log.path.read_text().count("line") == 2
