"""The progress bar on a terminal, with the written files printed above it; no bar anywhere else."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from tests.conftest import RunCli

RUN = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "3", "--seeds", "1", "2", "3")


def _on_a_terminal(argv: list[str]) -> str:
    """What a terminal shows of a whole run, escape sequences and carriage returns included."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # 30 rows of 100 columns
    process = subprocess.Popen([sys.executable, "-m", "dgenerate", *argv], stdin=child, stdout=child, stderr=child,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    os.close(child)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal's other end closed: the process is done
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert process.wait(timeout=300) == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace")


def test_written_files_are_printed_above_the_bar_never_inside_it(tiny_model: Path, tmp_path: Path) -> None:
    shown = _on_a_terminal([str(tiny_model), *RUN, "-o", str(tmp_path)])
    assert "images:" in shown and "step" in shown, "the bar is drawn on a terminal"
    whole = re.findall(r"(?:^|[\r\n])dgenerate: wrote (\S+?)\r?\n", shown)
    assert sorted(Path(name).name for name in whole) == sorted(path.name for path in tmp_path.glob("*.png"))
    assert shown.count("dgenerate: wrote") == 3, "every file line starts a line of its own"


def test_without_a_terminal_there_is_no_bar_and_one_line_per_file(run_cli: RunCli, tiny_model: Path,
                                                                  tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), *RUN, "-o", str(tmp_path))
    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert "\r" not in result.err and "step/s" not in result.err
    assert lines[0].startswith("dgenerate: 3 images (1 prompt x 3 seeds")
    assert lines[1:] == [f"dgenerate: wrote {tmp_path / name}" for name in
                         ("s_1_g_5-0_i_3_step_1.png", "s_2_g_5-0_i_3_step_2.png", "s_3_g_5-0_i_3_step_3.png")]
