"""The Hadoop stand-in (tests/hadoop_standin/hadoop) behaves as real Hadoop Streaming was
observed to behave (the project's field notes): these are the facts the Hadoop engine's
tests rely on, checked on the stand-in directly with small mappers."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

from tests.conftest import ROOT

STANDIN = os.path.join(ROOT, "tests", "hadoop_standin", "hadoop")

# Writes each input record it receives as hex (so that line ends stay visible), a
# side-effect file into its task output directory, counters, and its working directory.
MAPPER = r"""
import os, sys
for raw in sys.stdin.buffer:
    sys.stdout.write(raw.rstrip(b"\n").hex() + "\n")
    sys.stderr.write("reporter:counter:seen,records,1\n")
out = os.environ["mapreduce_task_output_dir"]
sys.stderr.write("task output dir " + out + "\n")
side = "side-" + os.environ["mapreduce_task_partition"]
with open(os.path.join(out.removeprefix("file:"), side), "w") as f:
    f.write(os.getcwd() + "\n" + os.environ.get("CLIENT_ONLY", "-") + "\n")
"""


def hadoop(tmp_path, args, local=False, **env):
    """``hadoop ARGS`` in ``tmp_path``, in local mode (LocalJobRunner) or YARN-like."""
    environ = dict(os.environ, **env)
    if local:
        conf = tmp_path / "conf-local"
        conf.mkdir(exist_ok=True)
        (conf / "mapred-site.xml").write_text(
            "<configuration><property><name>mapreduce.framework.name</name>"
            "<value>local</value></property></configuration>"
        )
        environ["HADOOP_CONF_DIR"] = str(conf)
    return subprocess.run(
        [STANDIN, *args], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60
    )


def streaming(tmp_path, mapper, *confs, inputs=("in",), files=()):
    jar = tmp_path / "hadoop-streaming.jar"
    jar.touch()
    args = ["jar", str(jar)]
    for conf in ("mapreduce.job.reduces=0", *confs):
        args += ["-D", conf]
    if files:
        args += ["-files", ",".join(str(f) for f in files)]
    for path in inputs:
        args += ["-input", path]
    return args + ["-output", "out", "-mapper", mapper]


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def parts(directory) -> bytes:
    return b"".join(
        (directory / n).read_bytes() for n in sorted(os.listdir(directory)) if n[:5] == "part-"
    )


def test_an_empty_separator_is_dropped_so_a_line_without_a_tab_gets_a_trailing_tab(tmp_path):
    write(tmp_path / "in" / "a.txt", b"plain\nkey\tvalue\n")
    args = streaming(tmp_path, "cat", "mapreduce.output.textoutputformat.separator=")
    result = hadoop(tmp_path, args)
    assert result.returncode == 0, result.stderr
    assert parts(tmp_path / "out") == b"plain\t\nkey\tvalue\n"


def test_keyonlytext_writes_the_mappers_lines_as_they_are(tmp_path):
    write(tmp_path / "in" / "a.txt", b'{"a": 1}\nkey\tvalue\n')
    result = hadoop(tmp_path, streaming(tmp_path, "cat", "stream.map.output=keyonlytext"))
    assert result.returncode == 0, result.stderr
    assert parts(tmp_path / "out") == b'{"a": 1}\nkey\tvalue\n'


def received(tmp_path, *confs) -> list[bytes]:
    """The records the mapper received for one file with every kind of line end."""
    write(tmp_path / "in" / "a.txt", b"lf\ncrlf\r\nlone\rcr\nlast")
    mapper = write(tmp_path / "mapper.py", MAPPER.encode())
    args = streaming(tmp_path, f"{sys.executable} mapper.py", *confs, files=[mapper])
    result = hadoop(tmp_path, args)
    assert result.returncode == 0, result.stderr
    return [bytes.fromhex(line) for line in parts(tmp_path / "out").decode().split()]


def test_text_input_ends_lines_at_lf_crlf_and_a_lone_cr(tmp_path):
    assert received(tmp_path) == [b"lf", b"crlf", b"lone", b"cr", b"last"]


def test_a_record_delimiter_is_the_only_line_end(tmp_path):
    records = received(tmp_path, "textinputformat.record.delimiter=\n")
    assert records == [b"lf", b"crlf\r", b"lone\rcr", b"last"]


def test_yarn_tasks_run_in_their_own_directory_and_side_effect_files_are_committed(tmp_path):
    write(tmp_path / "in" / "a.txt", b"1\n2\n")
    write(tmp_path / "in" / "b.txt", b"3\n")
    mapper = write(tmp_path / "ship" / "mapper.py", MAPPER.encode())
    args = streaming(tmp_path, f"{sys.executable} mapper.py", files=[mapper])
    logs = tmp_path / "task-logs"
    result = hadoop(tmp_path, args, CLIENT_ONLY="client", HADOOP_STANDIN_TASK_LOGS=str(logs))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001", "side-0", "side-1"]
    cwd, client_env = (out / "side-0").read_text().split()
    assert cwd != str(tmp_path) and client_env == "-"  # a container: own dir, clean env
    assert sorted(os.listdir(tmp_path)) == [
        "hadoop-streaming.jar",
        "in",
        "out",
        "ship",
        "task-logs",
    ]
    # Task stderr is in the task's log, not on the client's console.
    assert "task output dir" not in result.stderr
    (attempt,) = [d for d in os.listdir(logs) if d.endswith("_m_000000_0")]
    task_log = (logs / attempt / "stderr").read_text()
    assert f"task output dir file:{out}/_temporary/1/_temporary/{attempt}" in task_log
    assert "impl.YarnClientImpl: Submitted application application_" in result.stderr
    assert "The url to track the job: http://" in result.stderr


def test_local_mode_runs_tasks_in_the_clients_directory_and_leaves_shipped_files(tmp_path):
    write(tmp_path / "in" / "a.txt", b"1\n")
    mapper = write(tmp_path / "ship" / "mapper.py", MAPPER.encode())
    (tmp_path / "mapper.py").write_text("the user's own file\n")
    args = streaming(tmp_path, f"{sys.executable} mapper.py", files=[mapper])
    result = hadoop(tmp_path, args, local=True, CLIENT_ONLY="client")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "side-0").read_text().split() == [str(tmp_path), "client"]
    # The shipped copy replaced the user's file and stays behind.
    assert (tmp_path / "mapper.py").read_text() == MAPPER
    assert "/out/_temporary/0/_temporary/attempt_local" in result.stderr  # stderr on console


def test_counters_are_printed_at_job_end_in_hadoops_format(tmp_path):
    write(tmp_path / "in" / "a.txt", b"1\n2\n")
    write(tmp_path / "in" / "b.txt", b"3\n")
    mapper = write(tmp_path / "ship" / "mapper.py", MAPPER.encode())
    args = streaming(tmp_path, f"{sys.executable} mapper.py", files=[mapper])
    result = hadoop(tmp_path, args, local=True)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    blocks = [i for i, line in enumerate(lines) if "Counters: " in line]
    # In local mode each task prints its block; the job's comes last.
    assert len(blocks) == 3 and "Final Counters for attempt_local" in lines[blocks[0]]
    job = lines[blocks[-1] :]
    assert job[0].endswith("INFO mapreduce.Job: Counters: 3")
    assert job[1:6] == [
        "\tMap-Reduce Framework",
        "\t\tMap input records=3",
        "\t\tMap output records=3",
        "\tseen",
        "\t\trecords=3",
    ]


def test_a_failed_task_fails_the_job_with_its_stderr_on_the_console_in_local_mode(tmp_path):
    write(tmp_path / "in" / "a.txt", b"1\n")
    mapper = write(tmp_path / "ship" / "fail.py", b"import sys; sys.exit('the real error')\n")
    args = streaming(tmp_path, f"{sys.executable} fail.py", files=[mapper])
    result = hadoop(tmp_path, args, local=True)
    assert result.returncode != 0
    assert "the real error" in result.stderr
    assert "subprocess failed with code 1" in result.stderr
    assert os.listdir(tmp_path / "out") == []  # abortJob: _temporary removed, no _SUCCESS
    yarn = hadoop(tmp_path, streaming(tmp_path, f"{sys.executable} fail.py", files=[mapper]))
    assert yarn.returncode == 5 and "already exists" in yarn.stderr


def test_only_map_only_jobs_are_run(tmp_path):
    write(tmp_path / "in" / "a.txt", b"1\n")
    args = streaming(tmp_path, "cat")
    args[args.index("mapreduce.job.reduces=0")] = "mapreduce.job.reduces=1"
    result = hadoop(tmp_path, args)
    assert result.returncode == 1 and "map-only" in result.stderr


def test_with_ignorekey_false_each_record_comes_after_its_offset_in_the_file(tmp_path):
    data = b"".join(b"%04d line\r\n" % n for n in range(40))  # 11 bytes a line
    write(tmp_path / "in" / "a.txt", data)
    write(tmp_path / "in" / "b.txt.gz", gzip.compress(b"x\ny"))
    confs = ["stream.map.input.ignoreKey=false", "textinputformat.record.delimiter=\n"]
    confs.append("mapreduce.input.fileinputformat.split.maxsize=100")  # splits mid-line
    result = hadoop(tmp_path, streaming(tmp_path, "cat", "stream.map.output=keyonlytext", *confs))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert len([n for n in os.listdir(out) if n.startswith("part-")]) > 3
    lines = parts(out).splitlines()
    offsets = [n * 11 for n in range(40)] + [0, 2]
    # The mapper got "OFFSET<TAB>LINE\n" (cat's \r\n then ends the output line).
    assert lines == [b"%d\t%04d line" % (o, n) for n, o in enumerate(offsets[:40])] + [
        b"0\tx",
        b"2\ty",
    ]


def test_a_byte_order_mark_starting_a_file_is_dropped(tmp_path):
    bom = b"\xef\xbb\xbf"
    write(tmp_path / "in" / "a.txt", bom + b"first\n" + bom + b"second\n")
    mapper = write(tmp_path / "mapper.py", MAPPER.encode())
    args = streaming(tmp_path, f"{sys.executable} mapper.py", files=[mapper])
    result = hadoop(tmp_path, args)
    assert result.returncode == 0, result.stderr
    records = [bytes.fromhex(line) for line in parts(tmp_path / "out").decode().split()]
    assert records == [b"first", bom + b"second"]


def test_job_kill_of_an_unknown_job_fails_as_mapred_does(tmp_path):
    result = hadoop(tmp_path, ["job", "-kill", "job_1_0001"], TMPDIR=str(tmp_path))
    assert result.returncode == 255 and "Could not find job job_1_0001" in result.stdout


def test_nline_input_gives_each_line_its_own_task_with_its_offset_as_key(tmp_path):
    """NLineInputFormat (what mrjob's input manifests use): one map task per line, the
    record written to the mapper as ``offset TAB line`` (the key is not ignored for an
    input format other than TextInputFormat)."""
    write(tmp_path / "in" / "manifest.txt", b"hdfs:///a.json\nhdfs:///b.json\nc\n")
    args = streaming(tmp_path, "cat", "stream.map.output=keyonlytext")
    jar_at = args.index("-output")
    args[jar_at:jar_at] = ["-inputformat", "org.apache.hadoop.mapred.lib.NLineInputFormat"]
    result = hadoop(tmp_path, args)
    assert result.returncode == 0, result.stderr
    assert "number of splits:3" in result.stderr
    names = sorted(n for n in os.listdir(tmp_path / "out") if n.startswith("part-"))
    outputs = [(tmp_path / "out" / name).read_bytes() for name in names]
    assert outputs == [b"0\thdfs:///a.json\n", b"15\thdfs:///b.json\n", b"30\tc\n"]
