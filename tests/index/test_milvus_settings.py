"""``$FACESEARCH_MILVUS_CONFIG``'s settings reach the Milvus server or are refused: the server's
wrapper drops a key that its milvus.yaml lacks without a word, which once left automatic compaction on
while docs/scale-out.md said how to turn it off (scripts/milvus_settings.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from milvus_fixtures import SCRIPT, check_settings

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "milvus_settings.py"
# The shape of the wheel's config.yaml.template: comments, nesting two spaces a level, list items.
TEMPLATE = """\
# Related configuration of dataCoord
dataCoord:
  enableCompaction: true # Enable data segment compaction
  compaction:
    enableAutoCompaction: true
  gc:
    interval: 3600 # gc interval in seconds
    dropTolerance: 10800
  # segment:
  #   maxSize: 512
rocksmq:
  path: /var/lib/milvus/rdb_data # The path where the message is stored in rocksmq
  retentionTimeInMinutes: 4320
trace:
  exporter: stdout
  sampleFraction: 0
nodes:
  - name: a
"""


def check(*settings: str, template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--template", str(template), *settings],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_key_of_the_template_is_accepted(tmp_path: Path) -> None:
    template = tmp_path / "config.yaml.template"
    template.write_text(TEMPLATE, encoding="utf-8")
    done = check(
        "dataCoord.compaction.enableAutoCompaction=false",
        "dataCoord.gc.interval=5",
        "dataCoord.gc.dropTolerance=5",
        "rocksmq.retentionTimeInMinutes=1",
        "trace.sampleFraction=0.5",
        template=template,
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_a_misspelt_or_commented_out_key_is_refused_by_name(tmp_path: Path) -> None:
    template = tmp_path / "config.yaml.template"
    template.write_text(TEMPLATE, encoding="utf-8")
    done = check(
        "dataCoord.gc.interval=5",
        "dataCoord.enableAutoCompaction=false",  # one level too high: the mistake this guards against
        "dataCoord.segment.maxSize=1024",  # only in a comment
        "gc.interval=5",  # a key of a section, without the section
        template=template,
    )
    assert done.returncode == 1
    refused = re.findall(r"'([^']+)' is not a setting of milvus.yaml", done.stderr)
    assert refused == ["dataCoord.enableAutoCompaction", "dataCoord.segment.maxSize", "gc.interval"]


def test_a_setting_without_a_value_is_refused(tmp_path: Path) -> None:
    template = tmp_path / "config.yaml.template"
    template.write_text(TEMPLATE, encoding="utf-8")
    done = check("dataCoord.gc.interval", "=5", template=template)
    assert done.returncode == 1
    assert "'dataCoord.gc.interval' is not KEY=VALUE" in done.stderr
    assert "'=5' is not KEY=VALUE" in done.stderr


def test_start_refuses_a_misspelt_setting_before_anything_starts(tmp_path: Path) -> None:
    check_settings()  # the check reads the installed server's own template
    folder = tmp_path / "server"
    done = subprocess.run(
        ["bash", str(SCRIPT), "start", str(folder)],
        env={**os.environ, "FACESEARCH_MILVUS_CONFIG": "dataCoord.gc.interval=5 dataCoord.enableAutoCompaction=false"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "'dataCoord.enableAutoCompaction' is not a setting of milvus.yaml" in done.stderr
    assert not folder.exists()  # no server, no files


def test_every_milvus_setting_the_docs_name_is_one_the_server_has() -> None:
    section = "common|dataCoord|dataNode|indexNode|queryCoord|queryNode|rocksmq|proxy"
    setting = re.compile(rf"(?<![\w.-])((?:{section})(?:\.[A-Za-z]+)+)")  # not a host name's tail
    named = set()
    for doc in [ROOT / "docs" / "scale-out.md", ROOT / "bench" / "milvus.py", ROOT / "tests" / "milvus_fixtures.py"]:
        named |= set(setting.findall(doc.read_text(encoding="utf-8")))
    assert "dataCoord.compaction.enableAutoCompaction" in named  # the docs' advice for a large load is checked
    done = check_settings(*sorted(f"{key}=1" for key in named))
    assert (done.returncode, done.stderr) == (0, "")
