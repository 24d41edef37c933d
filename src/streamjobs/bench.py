"""The post's comparison, reproduced: every way this machine has to run the job, timed.

    python -m streamjobs.bench [--files 4] [--lines-per-file 1000000] [--repeat 3] [--quick]

Generates the data when missing and runs each variant the machine can run, whole commands
with their start-up, as users run them: the post's job (its plain Python mapper, GNU
parallel, jq, Luigi's per-file tasks, mrjob, PySpark, ``luigi --module luigi_hadoop
TestTaskMR --local-scheduler``, the node-side map task, DuckDB and polars) and a user's job
(``examples/sales_job.py`` ``SalesOver`` through the ``luigi`` command, against a plain
Python mapper for it, DuckDB and polars). Every variant must select the same records as
the plain mapper of its group; DuckDB and polars do the job as closely as their typed
readers can, and the table says where their semantics differ.

Runs are interleaved (every variant once, then again), and each speed is the median of
the per-round ratios to the plain mapper's run of the same round, so that a busy
neighbour slows the pair alike. Then a tiny run (100 lines) of each start-up-bound
variant, and a scaling table of the job with 1 and 2 processes on 1x, 4x and 16x the data.
Tables, a JSON copy and a PNG chart (matplotlib, the ``bench`` extra) go to the work
directory.
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field

from streamjobs import node_runner
from streamjobs.generate import generate

THRESHOLD = 1.99  # the post's
MIN_AMOUNT = 100.0  # SalesOver's default

# The post's mapper, in Python 3: one json.loads and, when kept, one json.dumps a line.
POST_MAPPER = """\
import json
import sys

THRESHOLD = 1.99


def map_line(line, th=THRESHOLD):
    line_dict = json.loads(line)
    sum_val = line_dict["index"] + line_dict["total"]
    if sum_val > th:
        line_dict["sum_val"] = sum_val
        yield json.dumps(line_dict)


if __name__ == "__main__":
    for line in sys.stdin:
        for out in map_line(line, THRESHOLD):
            print(out)
"""

# SalesOver written the post's way.
SALES_MAPPER = """\
import json
import sys

MIN_AMOUNT = 100.0


def map_line(line, min_amount=MIN_AMOUNT):
    record = json.loads(line)
    amount = record["price"] * record["qty"]
    if amount > min_amount:
        record["amount"] = amount
        yield json.dumps(record)


if __name__ == "__main__":
    for line in sys.stdin:
        for out in map_line(line, MIN_AMOUNT):
            print(out)
"""

# The post's map.jq: the same filter as a jq program.
POST_JQ = "(.index + .total) as $sum_val | . |= . + {sum_val: $sum_val} | select(.sum_val > 1.99)\n"

# The post's PySpark script.
PYSPARK_SCRIPT = """\
import json
import sys

from pyspark import SparkContext


def map_line(line):
    record = json.loads(line)
    record["sum_val"] = record["index"] + record["total"]
    return [json.dumps(record)] if record["sum_val"] > 1.99 else []


sc = SparkContext("local[*]", "bench")
sc.textFile(sys.argv[1]).flatMap(map_line).saveAsTextFile(sys.argv[2])
sc.stop()
"""

# What a DuckDB user writes: read_json with typed columns, a filter, COPY ... TO.
DUCKDB_SCRIPT = """\
import sys

import duckdb

QUERIES = {
    "post": '''SELECT "index", total, "index" + total AS sum_val
        FROM read_json({files}, format='newline_delimited',
                       columns={{'index': 'DOUBLE', 'total': 'DOUBLE'}})
        WHERE "index" + total > 1.99''',
    "sales": '''SELECT "order", item, price, qty, customer, price * qty AS amount
        FROM read_json({files}, format='newline_delimited',
                       columns={{'order': 'BIGINT', 'item': 'VARCHAR', 'price': 'DOUBLE',
                                 'qty': 'BIGINT',
                                 'customer': 'STRUCT(id BIGINT, country VARCHAR)'}})
        WHERE price * qty > 100.0''',
}


def literal(text):
    return "'" + text.replace("'", "''") + "'"


kind, out, *files = sys.argv[1:]
query = QUERIES[kind].format(files="[" + ", ".join(map(literal, files)) + "]")
duckdb.sql(f"COPY ({query}) TO {literal(out)} (FORMAT json)")
"""

# What a polars user writes: scan_ndjson with a schema, a filter, sink_ndjson.
POLARS_SCRIPT = """\
import sys

import polars as pl

kind, out, *files = sys.argv[1:]
if kind == "post":
    schema = {"index": pl.Float64, "total": pl.Float64}
    new, value, above = "sum_val", pl.col("index") + pl.col("total"), 1.99
else:
    customer = pl.Struct({"id": pl.Int64, "country": pl.String})
    schema = {"order": pl.Int64, "item": pl.String, "price": pl.Float64, "qty": pl.Int64,
              "customer": customer}
    new, value, above = "amount", pl.col("price") * pl.col("qty"), 100.0
query = pl.scan_ndjson(files, schema=schema).with_columns(value.alias(new))
query.filter(pl.col(new) > above).sink_ndjson(out)
"""

SCRIPTS = {
    "json_mapper.py": POST_MAPPER,
    "sales_mapper.py": SALES_MAPPER,
    "map.jq": POST_JQ,
    "pyspark_job.py": PYSPARK_SCRIPT,
    "duckdb_job.py": DUCKDB_SCRIPT,
    "polars_job.py": POLARS_SCRIPT,
}

# Groups: variants in a group read the same input and are compared with its plain mapper.
POST, POST_ONE, SALES = "post", "post, one file", "sales"
BASELINES = {POST: "post's mapper", POST_ONE: "post's mapper, one file", SALES: "sales mapper"}
JOB_NAME = "luigi TestTaskMR, 2 processes"
JOB_ONE_PROCESS_NAME = "luigi TestTaskMR, 1 process"
NODE_NAME = "node-side map task, one file"
SALES_JOB_NAME = "luigi SalesOver (examples/)"
# Run by every benchmark: a failure of one of these fails the run.
CORE_VARIANTS = (*BASELINES.values(), JOB_NAME, JOB_ONE_PROCESS_NAME, NODE_NAME, SALES_JOB_NAME)

OURS = "every line validated; bad lines counted and quarantined"
SEMANTICS = {
    "plain": "the reference; a bad line stops the run",
    "ours": OURS,
    "jq": "a bad line stops the run",
    "spark": "the post's mapper in Spark tasks; a bad line fails the run",
    "duckdb": "keys outside `columns` dropped (nested too); values cast to the column type "
    '(1 -> 1.0, true -> 1.0, "1.5" -> 1.5, qty 2.5 -> 2); a missing field is NULL and '
    "silently not selected; a malformed line fails the run",
    "polars": "keys outside the schema dropped; integers become floats (1 -> 1.0); a "
    "missing field is null and silently not selected; a string or bool for a number, or a "
    "malformed line, fails the run",
}


@dataclass
class Variant:
    """One way to run a job: a shell command run in the work directory."""

    name: str
    group: str
    command: str
    output: str  # directory (or file) the command writes, removed before each run
    semantics: str = OURS
    core: bool = False
    # False when the command's work runs in processes it does not wait for (Spark's JVM
    # daemons): their CPU time escapes ru_utime/ru_stime, and the table says n/a.
    cpu_counted: bool = True
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peak_rss: int = 0  # bytes: the largest ru_maxrss of the command's process tree
    records: int | None = None
    matches: bool | None = None
    error: str | None = None


@dataclass
class Timed:
    wall: float  # seconds
    cpu: float  # user + system seconds of the process and its waited-for descendants
    peak_rss: int  # bytes: ru_maxrss of the process tree (its largest process)


# Runs one command and writes its wall time and its process tree's rusage to a file. A
# small process of its own (python -I -S): a child forked from this benchmark's process
# would inherit its memory high-water mark, and ru_maxrss would report that.
MEASURE = """\
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp("bash", ["bash", "-c", "set -o pipefail; " + sys.argv[1]])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[2], "w") as out:
    json.dump([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024], out)
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def run_timed(command: str, cwd: str, env: dict, timeout: float) -> Timed:
    """Run ``command`` in bash; its wall time and its own process tree's rusage.

    ``os.wait4`` gives the rusage of that one command (its waited-for descendants
    included), where ``RUSAGE_CHILDREN`` would sum every command run so far.
    """
    with tempfile.TemporaryDirectory() as scratch:
        result = os.path.join(scratch, "rusage.json")
        with open(os.path.join(scratch, "stderr"), "w+b") as errors:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", MEASURE, command, result],
                cwd=cwd,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,  # a timeout kills the whole tree
            )
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise RuntimeError(f"timed out after {timeout:.0f} s") from None
            if process.returncode != 0:
                errors.seek(0)
                tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-5:]
                raise RuntimeError(f"exit {process.returncode}: " + " | ".join(tail))
        with open(result) as stream:
            wall, cpu, peak = json.load(stream)
    return Timed(wall, cpu, peak)


def output_files(path: str) -> list[str]:
    """Data files under an output path: markers, side directories and hidden files skipped."""
    if os.path.isfile(path):
        return [path]
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        files.extend(os.path.join(root, n) for n in names if not n.startswith(("_", ".")))
    return sorted(files)


def selected_records(path: str) -> list[str]:
    """The records an output holds, each as canonical JSON (keys sorted), sorted.

    Numbers compare as parsed values, exactly: tools print doubles differently (jq with 17
    significant digits, Python with the shortest form) but each form reads back as the one
    double it was written from.
    """
    records = []
    for name in output_files(path):
        with open(name, "rb") as stream:
            for line in stream:
                if line.strip():
                    records.append(json.dumps(json.loads(line), sort_keys=True))
    return sorted(records)


def checkout_paths() -> dict[str, str]:
    """``jobs``, ``examples`` and ``luigi.cfg`` of the checkout this streamjobs runs from."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.dirname(package_parent)
    found = {"src": package_parent}
    for name in ("jobs", "examples", "luigi.cfg"):
        if os.path.exists(os.path.join(root, name)):
            found[name] = os.path.join(root, name)
    return found


def subprocess_env(paths: dict[str, str]) -> dict:
    """The environment of every command: this streamjobs, its jobs/ and examples/."""
    entries = [paths[key] for key in ("src", "jobs", "examples") if key in paths]
    if os.environ.get("PYTHONPATH"):
        entries.append(os.environ["PYTHONPATH"])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(entries), SPARK_LOCAL_IP="127.0.0.1")


def importable(name: str) -> str | None:
    """None when module ``name`` imports, else why not."""
    try:
        if importlib.util.find_spec(name) is None:
            return "not installed"
        importlib.import_module(name)
    except Exception as exc:  # any failure to import means: skip this variant
        return f"{type(exc).__name__}: {exc}"
    return None


def luigi_command() -> str:
    """The ``luigi`` script installed beside this Python, else ``python -m luigi``."""
    script = os.path.join(os.path.dirname(sys.executable), "luigi")
    if os.access(script, os.X_OK):
        return shlex.quote(script)
    return f"{shlex.quote(sys.executable)} -m luigi"


def quoted(paths: list[str]) -> str:
    return " ".join(shlex.quote(path) for path in paths)


@dataclass
class Inputs:
    post: str  # directory of the post's files
    post_files: list[str]
    sales: str
    sales_files: list[str]


def plan_variants(inputs: Inputs, work: str, paths: dict) -> tuple[list[Variant], list[str]]:
    """The variants this machine can run, and a note for each one it cannot."""
    python = shlex.quote(sys.executable)
    luigi = luigi_command()
    data, files = inputs.post, quoted(inputs.post_files)
    first = shlex.quote(inputs.post_files[0])
    notes: list[str] = []
    plain = SEMANTICS["plain"]
    variants = [
        Variant(BASELINES[POST], POST, f"cat {files} | {python} json_mapper.py > out_post.json",
                "out_post.json", plain, core=True),
        Variant(BASELINES[POST_ONE], POST_ONE, f"{python} json_mapper.py < {first} > out_one.json",
                "out_one.json", plain, core=True),
    ]  # fmt: skip
    if shutil.which("parallel"):
        variants += [
            Variant(
                "GNU parallel, one mapper per file",
                POST,
                f"mkdir out_par && ls {files} | parallel --will-cite "
                f"'{python} json_mapper.py < {{}} > out_par/file_{{#}}.json'",
                "out_par",
                plain,
            ),
            Variant(
                "GNU parallel --pipe",
                POST,
                f"mkdir out_pipe && cat {files} | parallel --will-cite --pipe "
                f"'{python} json_mapper.py > out_pipe/file_{{#}}.json'",
                "out_pipe",
                plain,
            ),
        ]
    else:
        notes.append("GNU parallel: not installed (apt package parallel)")
    if shutil.which("jq"):
        variants.append(
            Variant(
                "jq", POST, f"cat {files} | jq -c -f map.jq > out_jq.json", "out_jq.json",
                SEMANTICS["jq"],
            )
        )  # fmt: skip
    else:
        notes.append("jq: not installed")
    why = importable("luigi_multiprocess")
    if why is None:
        for workers in (1, 2):
            variants.append(
                Variant(
                    f"luigi LotsOTasks, --workers {workers}",
                    POST,
                    f"{luigi} --module luigi_multiprocess LotsOTasks --local-scheduler "
                    f"--workers {workers} --input-path {data} --output-path out_lots{workers}",
                    f"out_lots{workers}",
                )
            )
    else:
        notes.append(f"luigi LotsOTasks: skipped (luigi_multiprocess: {why})")
    why = importable("mrjob") or importable("mr_json_filter")
    if why is None:
        variants.append(
            Variant(
                "mrjob -r local",
                POST,
                f"{python} -m mr_json_filter -r local -o out_mrjob {files}",
                "out_mrjob",
            )
        )
    else:
        notes.append(f"mrjob: skipped ({why})")
    if importable("pyspark") is None and shutil.which("java"):
        variants.append(
            Variant(
                "PySpark (the post's script)",
                POST,
                f"{python} pyspark_job.py {data} out_spark",
                "out_spark",
                SEMANTICS["spark"],
                cpu_counted=False,
            )
        )
    else:
        notes.append("PySpark: skipped (pyspark or Java is missing)")
    for processes, name in ((2, JOB_NAME), (1, JOB_ONE_PROCESS_NAME)):
        variants.append(
            Variant(
                name,
                POST,
                f"{luigi} --module luigi_hadoop TestTaskMR --local-scheduler "
                f"--processes {processes} --input-path {data} --output-path out_mr{processes}",
                f"out_mr{processes}",
                core=True,
            )
        )
    node = prepare_node_task(work, inputs.post_files[0])
    variants.append(
        Variant(
            NODE_NAME,
            POST_ONE,
            # The runner unpacks the shipped code afresh each time, as a map task does, and
            # reads its split as Hadoop Streaming writes it: OFFSET<TAB>LINE.
            f"cd node-task && mapreduce_task_output_dir={shlex.quote(node)}/task-output "
            f"{python} runner.py map spec.json code.tar < input.keyed > ../out_node.json",
            "out_node.json",
            core=True,
        )
    )
    sales, sales_files = inputs.sales, quoted(inputs.sales_files)
    variants.append(
        Variant(BASELINES[SALES], SALES,
                f"cat {sales_files} | {python} sales_mapper.py > out_sales_plain.json",
                "out_sales_plain.json", plain, core=True)
    )  # fmt: skip
    if "examples" in paths:
        variants.append(
            Variant(
                SALES_JOB_NAME,
                SALES,
                f"{luigi} --module sales_job SalesOver --local-scheduler "
                f"--input-path {sales} --output-path out_sales_job",
                "out_sales_job",
                core=True,
            )
        )
    else:
        notes.append("SalesOver: skipped (run from a checkout: it lives in examples/)")
    for tool in ("duckdb", "polars"):
        why = importable(tool)
        if why is not None:
            notes.append(f"{tool}: skipped ({why}; pip install 'streamjobs[bench]')")
            continue
        for group, kind, inputs_ in ((POST, "post", files), (SALES, "sales", sales_files)):
            out = f"out_{tool}_{kind}.json"
            variants.append(
                Variant(
                    f"{tool} ({kind})",
                    group,
                    f"{python} {tool}_job.py {kind} {out} {inputs_}",
                    out,
                    SEMANTICS[tool],
                )
            )
    return variants, notes


def prepare_node_task(work: str, first_file: str) -> str:
    """A map task's working directory as the Hadoop engine ships it: the node runner, the
    code archive and the job spec of TestTaskMR. Its path."""
    from luigi_hadoop import TestTaskMR

    from streamjobs.engines.hadoop import code_to_ship, write_code_archive
    from streamjobs.spec import JobSpec

    node = os.path.join(work, "node-task")
    os.makedirs(node, exist_ok=True)
    shutil.copy(node_runner.__file__, os.path.join(node, "runner.py"))
    spec, modules = code_to_ship(JobSpec.of_task(TestTaskMR(), [first_file], "out"))
    modules.pop("__main__", None)  # this benchmark, when run with -m
    write_code_archive(os.path.join(node, "code.tar"), modules)
    with open(os.path.join(node, "spec.json"), "w") as out:
        out.write(spec.to_json())
    # The map task's stdin, as Hadoop Streaming submits it (stream.map.input.ignoreKey=
    # false): each line keyed by its byte offset in the file.
    offset = 0
    with open(first_file, "rb") as lines, open(os.path.join(node, "input.keyed"), "wb") as out:
        for line in lines:
            out.write(b"%d\t%b" % (offset, line))
            offset += len(line)
    return node


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def run_rounds(variants: list[Variant], work: str, env: dict, repeat: int, timeout: float):
    """Run every variant ``repeat`` times, interleaved."""
    for round_number in range(repeat):
        for variant in variants:
            if variant.error:
                continue
            remove(os.path.join(work, variant.output))
            try:
                timed = run_timed(variant.command, work, env, timeout)
            except RuntimeError as exc:
                variant.error = str(exc)
                print(f"  {variant.name}: FAILED {exc}", file=sys.stderr)
                continue
            variant.walls.append(timed.wall)
            variant.cpus.append(timed.cpu)
            variant.peak_rss = max(variant.peak_rss, timed.peak_rss)
            print(
                f"  round {round_number + 1}/{repeat} {variant.name}: {timed.wall:.2f} s",
                file=sys.stderr,
            )


def check_records(variants: list[Variant], work: str) -> None:
    """Compare each variant's records with those of its group's plain mapper."""
    reference = {
        v.group: selected_records(os.path.join(work, v.output))
        for v in variants
        if v.name == BASELINES[v.group] and not v.error
    }
    for variant in variants:
        if variant.error:
            continue
        records = selected_records(os.path.join(work, variant.output))
        variant.records = len(records)
        variant.matches = variant.group in reference and records == reference[variant.group]


def paired_speed(variant: Variant, baseline: Variant | None, cpu: bool = False) -> float | None:
    """The median over rounds of baseline / variant wall (or CPU) seconds, both from the
    same round."""
    if baseline is None or baseline.error or variant.error or not variant.walls:
        return None
    ours, theirs = (variant.cpus, baseline.cpus) if cpu else (variant.walls, baseline.walls)
    pairs = [(base, value) for base, value in zip(theirs, ours, strict=False) if value > 0]
    return statistics.median(base / value for base, value in pairs) if pairs else None


def variants_table(variants: list[Variant], lines: dict[str, int]) -> str:
    """The main markdown table."""
    baselines = {v.group: v for v in variants if v.name == BASELINES[v.group]}
    rows = [
        "| variant | input | median wall s | median CPU s | speed vs plain mapper "
        "| CPU ratio | peak RSS MB | records | semantics |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for v in variants:
        where = f"{v.group}, {lines[v.group]:,} lines"
        if v.error or not v.walls:
            rows.append(f"| {v.name} | {where} | failed: {v.error} | | | | | | {v.semantics} |")
            continue
        speed = paired_speed(v, baselines.get(v.group))
        cpu = paired_speed(v, baselines.get(v.group), cpu=True) if v.cpu_counted else None
        cpu_seconds = f"{statistics.median(v.cpus):.2f}" if v.cpu_counted else "n/a"
        check = f"{v.records} {'same' if v.matches else 'DIFFERENT'}"
        rows.append(
            f"| {v.name} | {where} | {statistics.median(v.walls):.2f} "
            f"| {cpu_seconds} | {_times(speed)} | {_times(cpu)} "
            f"| {v.peak_rss / 2**20:.0f} | {check} | {v.semantics} |"
        )
    return "\n".join(rows) + "\n"


def _times(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.1f}x"


def startup_commands(tiny: str, tiny_sales: str, paths: dict) -> dict[str, str]:
    """Commands on 100 lines, whose time is nearly all start-up."""
    python = shlex.quote(sys.executable)
    luigi = luigi_command()
    commands = {
        "python -c pass": f"{python} -c pass",
        IMPORT_LUIGI: f"{python} -c 'import luigi'",
        BASELINES[POST]: f"{python} json_mapper.py < {tiny}/dat_0.json > out_tiny_post.json",
        JOB_NAME: f"{luigi} --module luigi_hadoop TestTaskMR --local-scheduler "
        f"--input-path {tiny} --output-path out_tiny_job",
    }
    if "examples" in paths:
        commands[SALES_JOB_NAME] = (
            f"{luigi} --module sales_job SalesOver --local-scheduler "
            f"--input-path {tiny_sales} --output-path out_tiny_sales"
        )
    for tool in ("duckdb", "polars"):
        if importable(tool) is None:
            commands[f"{tool} (post)"] = (
                f"{python} {tool}_job.py post out_tiny_{tool}.json {tiny}/dat_0.json"
            )
    return commands


def run_startup(commands: dict[str, str], work: str, env: dict, repeat: int, timeout: float):
    """Interleaved runs of the tiny commands; {name: [wall s]}."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    failed = set()
    for _ in range(repeat):
        for name, command in commands.items():
            if name in failed:
                continue
            for path in os.listdir(work):
                if path.startswith("out_tiny"):
                    remove(os.path.join(work, path))
            try:
                walls[name].append(run_timed(command, work, env, timeout).wall)
            except RuntimeError as exc:
                print(f"  start-up {name}: FAILED {exc}", file=sys.stderr)
                failed.add(name)
    return {name: times for name, times in walls.items() if name not in failed}


IMPORT_LUIGI = "python -c 'import luigi'"


def startup_table(walls: dict[str, list[float]]) -> str:
    """Median and fastest of each tiny command, and its time beyond ``import luigi`` (the
    median of per-round differences: what the luigi command and the job add to it)."""
    base = walls.get(IMPORT_LUIGI)
    rows = [
        "| 100 lines | median wall s | min wall s | beyond import luigi, s |",
        "|---|---:|---:|---:|",
    ]
    for name, times in walls.items():
        beyond = ""
        if base and name.startswith("luigi "):
            beyond = f"{statistics.median(t - b for t, b in zip(times, base, strict=False)):.3f}"
        rows.append(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} | {beyond} |")
    return "\n".join(rows) + "\n"


def run_scaling(
    work: str, env: dict, base_lines: int, repeat: int, timeout: float, files: int = 4
) -> list[dict]:
    """The job with 1 and 2 processes on 1x, 4x and 16x ``base_lines`` (``files`` files)."""
    luigi = luigi_command()
    rows = []
    for factor in (1, 4, 16):
        lines = base_lines * factor
        data = ensure_data(work, "post", files, max(lines // files, 1))
        for processes in (1, 2):
            command = (
                f"{luigi} --module luigi_hadoop TestTaskMR --local-scheduler "
                f"--processes {processes} --input-path {data} --output-path out_scale"
            )
            runs = []
            for _ in range(repeat):
                remove(os.path.join(work, "out_scale"))
                runs.append(run_timed(command, work, env, timeout))
            rows.append(
                {
                    "factor": factor,
                    "lines": max(lines // files, 1) * files,
                    "processes": processes,
                    "walls": [r.wall for r in runs],
                    "peak_rss": max(r.peak_rss for r in runs),
                }
            )
            print(f"  scaling {factor}x, {processes} processes: done", file=sys.stderr)
    remove(os.path.join(work, "out_scale"))
    return rows


def scaling_table(rows: list[dict]) -> str:
    table = [
        "| data | lines | processes | median wall s | s per 1M lines | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        wall = statistics.median(row["walls"])
        table.append(
            f"| {row['factor']}x | {row['lines']:,} | {row['processes']} | {wall:.2f} "
            f"| {wall / row['lines'] * 1e6:.2f} | {row['peak_rss'] / 2**20:.0f} |"
        )
    return "\n".join(table) + "\n"


def chart(variants: list[Variant], path: str, title: str) -> bool:
    """Bars of each variant's paired speed against its group's plain mapper; False when
    matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    baselines = {v.group: v for v in variants if v.name == BASELINES[v.group]}
    done = [(v, paired_speed(v, baselines.get(v.group))) for v in variants]
    done = [(v, speed) for v, speed in done if speed is not None][::-1]
    if not done:
        return False
    colours = {"luigi": "tab:green", "node-side": "tab:green", "duckdb": "tab:orange"}
    colours["polars"] = "tab:orange"
    figure, axes = plt.subplots(figsize=(9, 0.42 * len(done) + 1.4))
    bars = axes.barh(
        [f"{v.name} [{v.group}]" for v, _ in done],
        [speed for _, speed in done],
        color=[colours.get(v.name.split()[0], "tab:gray") for v, _ in done],
    )
    axes.bar_label(bars, labels=[f"{speed:.1f}x" for _, speed in done], padding=3, fontsize=8)
    axes.set_xlabel("speed against the plain Python mapper of the same data (higher is better)")
    axes.set_title(title, fontsize=9)
    axes.set_xlim(0, max(speed for _, speed in done) * 1.15)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def ensure_data(work: str, kind: str, files: int, lines: int) -> str:
    """The data directory of ``files`` x ``lines`` lines of ``kind``, generated when missing."""
    data = os.path.join(work, f"{kind}-{files}x{lines}")
    prefix = "dat" if kind == "post" else "sales"
    expected = [os.path.join(data, f"{prefix}_{number}.json") for number in range(files)]
    if not all(os.path.exists(path) for path in expected):
        print(f"generating {files} x {lines:,} {kind} lines into {data}", file=sys.stderr)
        generate(data, files, lines, kind=kind)
    return data


def prepare(work: str, paths: dict) -> None:
    """The helper scripts, and a luigi.cfg, in the work directory (commands run there)."""
    # Byte-compiled first, as pip compiles a package it installs: with an editable install
    # and PYTHONDONTWRITEBYTECODE set, every command would compile the project's modules
    # again (about 10 ms of start-up).
    for key in ("src", "jobs", "examples"):
        if key in paths:
            compileall.compile_dir(paths[key], quiet=1)
    os.makedirs(work, exist_ok=True)
    for name, text in SCRIPTS.items():
        with open(os.path.join(work, name), "w") as out:
            out.write(text)
    # The luigi command reads ./luigi.cfg, as in a user's project directory.
    if "luigi.cfg" in paths:
        shutil.copyfile(paths["luigi.cfg"], os.path.join(work, "luigi.cfg"))


def data_files(directory: str) -> list[str]:
    return sorted(os.path.join(directory, name) for name in os.listdir(directory))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4, help="input files (default 4)")
    parser.add_argument(
        "--lines-per-file", type=int, default=1_000_000, help="post's lines a file (1000000)"
    )
    parser.add_argument(
        "--sales-lines-per-file", type=int, default=250_000, help="sales lines a file (250000)"
    )
    parser.add_argument(
        "--scale-lines", type=int, default=1_000_000, help="lines of the 1x scaling data"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant (default 3)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke test: tiny data, one run each"
    )
    parser.add_argument("--work", default="bench_out", help="work directory (default bench_out)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a run may take")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.lines_per_file, args.sales_lines_per_file = 4, 20_000, 5_000
        args.scale_lines, args.repeat = 4_000, 1
    work = os.path.abspath(args.work)
    paths = checkout_paths()
    prepare(work, paths)
    env = subprocess_env(paths)
    # Look job modules up where the subprocesses will find them.
    sys.path[:0] = [p for p in env["PYTHONPATH"].split(os.pathsep) if p not in sys.path]
    post = ensure_data(work, "post", args.files, args.lines_per_file)
    sales = ensure_data(work, "sales", args.files, args.sales_lines_per_file)
    inputs = Inputs(post, data_files(post), sales, data_files(sales))
    variants, notes = plan_variants(inputs, work, paths)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    run_rounds(variants, work, env, args.repeat, args.timeout)
    check_records(variants, work)
    lines = {
        POST: args.files * args.lines_per_file,
        POST_ONE: args.lines_per_file,
        SALES: args.files * args.sales_lines_per_file,
    }
    main_table = variants_table(variants, lines)

    tiny = ensure_data(work, "post", 1, 100)
    tiny_sales = ensure_data(work, "sales", 1, 100)
    startup_repeat = 1 if args.quick else max(args.repeat, 5)
    startup = run_startup(
        startup_commands(tiny, tiny_sales, paths), work, env, startup_repeat, args.timeout
    )
    scaling = run_scaling(work, env, args.scale_lines, args.repeat, args.timeout, args.files)

    conditions = (
        f"{os.cpu_count()} cores, median of {args.repeat} interleaved runs, "
        f"Python {sys.version.split()[0]}"
    )
    report = (
        f"{conditions}\n\n{main_table}\nStart-up (median of {startup_repeat}):\n\n"
        f"{startup_table(startup)}\nScaling, luigi TestTaskMR:\n\n{scaling_table(scaling)}"
    )
    print(f"\n{report}")
    for note in notes:
        print(f"- {note}")
    with open(os.path.join(work, "bench.md"), "w") as out:
        out.write(report)
    with open(os.path.join(work, "bench.json"), "w") as out:
        json.dump(
            {
                "conditions": conditions,
                "notes": notes,
                "variants": [asdict(v) for v in variants],
                "startup": startup,
                "scaling": scaling,
            },
            out,
            indent=2,
        )
    if chart(variants, os.path.join(work, "bench.png"), conditions):
        print(f"chart: {os.path.join(work, 'bench.png')}")
    else:
        print("chart: skipped (matplotlib is not installed: pip install 'streamjobs[bench]')")
    matched = all(v.matches for v in variants if not v.error)
    print(
        "records: every variant selected the same records as its plain mapper"
        if matched
        else "records: DIFFERENT"
    )
    # An optional variant that failed (a tool set up wrongly) is shown in the table; the
    # run fails when records differ or one of the project's own variants failed.
    core_failed = [v.name for v in variants if v.error and v.core]
    return 0 if matched and not core_failed else 1


if __name__ == "__main__":
    sys.exit(main())
