"""The post's comparison, reproduced: every way this machine has to run the job, timed.

    python -m streamjobs.bench [--files 4] [--lines-per-file 1000000] [--repeat 3] [--quick]

Generates the post's dataset when missing, runs each variant the machine can run (the
post's plain-Python mapper, GNU parallel, jq, Luigi's per-file tasks, mrjob, PySpark, this
project's local engine and its node-side mapper) with a fresh output each time, checks
that every variant selected the same records, and prints a markdown table: median wall
and CPU seconds, lines per second, speed against the post's mapper on the same input in the
same run, and the peak memory of the whole process tree. The table, a JSON copy and a PNG
bar chart (with matplotlib, the ``bench`` extra) go to the work directory.

Runs are interleaved (every variant once, then again) so that a busy neighbour slows all
variants alike rather than one of them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from streamjobs import node_runner
from streamjobs.generate import generate
from streamjobs.records import DEFAULT_THRESHOLD, ThresholdFilter

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

# The post's map.jq: the same filter as a jq program.
POST_JQ = "(.index + .total) as $sum_val | . |= . + {sum_val: $sum_val} | select(.sum_val > 1.99)\n"

# A plain PySpark script, for when the luigi_pyspark job module is not installed.
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

POST_NAME = "post's mapper"
POST_ONE_FILE_NAME = "post's mapper, one file"
NODE_NAME = "node-side mapper, one file"
ENGINE_NAME = "streamjobs local engine, 2 processes"
CORE_VARIANTS = (POST_NAME, POST_ONE_FILE_NAME, ENGINE_NAME, NODE_NAME)


@dataclass
class Variant:
    """One way to run the job: a shell command run in the work directory."""

    name: str
    command: str
    output: str  # directory (or file) the command writes, removed before each run
    one_file: bool = False  # reads only the first input file (a node's split)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peak_rss: int = 0  # bytes, the whole process tree
    records: int | None = None
    matches: bool | None = None
    error: str | None = None


class TreeSampler:
    """Samples a process and all its descendants: summed resident memory, and CPU time.

    CPU time is summed over every process seen, for daemons (Spark's JVM and Python
    workers) that are never waited for and so escape ``RUSAGE_CHILDREN``.
    """

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval, self.peak = pid, interval, 0
        self.cpu_ticks: dict[int, int] = {}
        self._tick = os.sysconf("SC_CLK_TCK")
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _descendants(self, pid: int) -> list[int]:
        found, todo = [], [pid]
        while todo:
            current = todo.pop()
            found.append(current)
            try:
                with open(f"/proc/{current}/task/{current}/children") as stream:
                    todo.extend(int(child) for child in stream.read().split())
            except OSError:
                pass
        return found

    def _resident(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/statm") as stream:
                return int(stream.read().split()[1]) * self._page
        except (OSError, IndexError, ValueError):
            return 0

    def _cpu_ticks(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/stat") as stream:
                fields = stream.read().rpartition(")")[2].split()
            return int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = self._descendants(self.pid)
            self.peak = max(self.peak, sum(self._resident(pid) for pid in pids))
            for pid in pids:
                self.cpu_ticks[pid] = max(self.cpu_ticks.get(pid, 0), self._cpu_ticks(pid))
            self._stop.wait(self.interval)

    def stop(self) -> tuple[int, float]:
        """Stop sampling; (peak resident bytes, CPU seconds seen)."""
        self._stop.set()
        self._thread.join()
        return self.peak, sum(self.cpu_ticks.values()) / self._tick


def run_timed(command: str, cwd: str, env: dict, timeout: float) -> tuple[float, float, int]:
    """Run ``command`` in a shell; (wall s, children's user+sys CPU s, peak tree RSS)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(
        ["bash", "-c", "set -o pipefail; " + command],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    sampler = TreeSampler(process.pid)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        sampler.stop()
        raise RuntimeError(f"timed out after {timeout:.0f} s") from None
    wall = time.perf_counter() - start
    peak, sampled_cpu = sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu = max(cpu, sampled_cpu)
    if process.returncode != 0:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise RuntimeError(f"exit {process.returncode}: " + " | ".join(tail))
    return wall, cpu, peak


def output_files(path: str) -> list[str]:
    """Data files under an output path: markers, side directories and hidden files skipped."""
    if os.path.isfile(path):
        return [path]
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        files.extend(os.path.join(root, n) for n in names if not n.startswith(("_", ".")))
    return sorted(files)


def selected_records(path: str) -> list[tuple]:
    """The records an output holds, as sorted (index, total, sum_val) number triples.

    Numbers are compared as parsed doubles, exactly: tools print them differently (jq with
    17 significant digits, Python with the shortest form) but each form reads back as the
    one double it was written from.
    """
    triples = []
    for name in output_files(path):
        with open(name, "rb") as stream:
            for line in stream:
                line = line.strip()
                if not line:
                    continue
                if not line.startswith(b"{"):  # a key<TAB>value line: the value
                    line = line.rpartition(b"\t")[2]
                record = json.loads(line)
                triples.append((record["index"], record["total"], record["sum_val"]))
    return sorted(triples)


def project_pythonpath() -> str:
    """PYTHONPATH for subprocesses: this streamjobs, and jobs/ beside it in a checkout."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [package_parent]
    jobs = os.path.join(os.path.dirname(package_parent), "jobs")
    if os.path.isfile(os.path.join(jobs, "luigi_hadoop.py")):
        paths.append(jobs)
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(paths)


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def plan_variants(data: str, first_file: str) -> tuple[list[Variant], list[str]]:
    """The variants this machine can run, and a note for each one it cannot."""
    python = sys.executable
    luigi = f"{python} -m luigi"
    files = " ".join(sorted(os.path.join(data, name) for name in os.listdir(data)))
    notes: list[str] = []
    variants = [
        Variant(
            POST_NAME, f"cat {files} | {python} json_mapper.py > out_post.json", "out_post.json"
        ),
        Variant(
            POST_ONE_FILE_NAME,
            f"{python} json_mapper.py < {first_file} > out_post_one.json",
            "out_post_one.json",
            one_file=True,
        ),
    ]
    if shutil.which("parallel"):
        variants += [
            Variant(
                "GNU parallel, one mapper per file",
                f"mkdir out_par && ls {files} | parallel --will-cite "
                f"'{python} json_mapper.py < {{}} > out_par/file_{{#}}.json'",
                "out_par",
            ),
            Variant(
                "GNU parallel --pipe",
                f"mkdir out_pipe && cat {files} | parallel --will-cite --pipe "
                f"'{python} json_mapper.py > out_pipe/file_{{#}}.json'",
                "out_pipe",
            ),
        ]
    else:
        notes.append("GNU parallel: not installed (apt package parallel)")
    if shutil.which("jq"):
        variants.append(
            Variant("jq", f"cat {files} | jq -c -f map.jq > out_jq.json", "out_jq.json")
        )
        if shutil.which("parallel"):
            variants.append(
                Variant(
                    "GNU parallel --pipe + jq",
                    f"mkdir out_pjq && cat {files} | parallel --will-cite --pipe "
                    "'jq -c -f map.jq > out_pjq/file_{#}.json'",
                    "out_pjq",
                )
            )
    else:
        notes.append("jq: not installed")
    if module_exists("luigi_multiprocess"):
        for workers in (1, 2):
            variants.append(
                Variant(
                    f"Luigi LotsOTasks, --workers {workers}",
                    f"{luigi} --module luigi_multiprocess LotsOTasks --local-scheduler "
                    f"--workers {workers} --input-path {data} --output-path out_lots{workers}",
                    f"out_lots{workers}",
                )
            )
    if module_exists("mr_json_filter") and module_exists("mrjob"):
        variants.append(
            Variant(
                "mrjob -r local",
                f"{python} -m mr_json_filter -r local -o out_mrjob {files}",
                "out_mrjob",
            )
        )
    else:
        notes.append("mrjob: skipped (mrjob or the mr_json_filter job module is not installed)")
    if module_exists("pyspark") and shutil.which("java"):
        if module_exists("luigi_pyspark"):
            command = (
                f"{luigi} --module luigi_pyspark TestTaskPS --local-scheduler "
                f"--input-path {data} --output-path out_spark"
            )
        else:
            command = f"{python} pyspark_job.py {data} out_spark"
        variants.append(Variant("PySpark", command, "out_spark"))
    else:
        notes.append("PySpark: skipped (pyspark or Java is missing)")
    for processes in (2, 1):
        name = ENGINE_NAME if processes == 2 else "streamjobs local engine, 1 process"
        variants.append(
            Variant(
                name,
                f"{luigi} --module luigi_hadoop TestTaskMR --local-scheduler "
                f"--processes {processes} --input-path {data} --output-path out_mr{processes}",
                f"out_mr{processes}",
            )
        )
    node = prepare_node_task(os.path.dirname(data))
    variants.append(
        Variant(
            NODE_NAME,
            # A fresh task directory each time: the runner extracts its packages, as a
            # Hadoop map task does.
            f"rm -rf {node}/streamjobs-packages && cd {node} && "
            f"{python} mrrunner.py map < {first_file} > ../out_node.json",
            "out_node.json",
            one_file=True,
        )
    )
    return variants, notes


def prepare_node_task(work: str) -> str:
    """A map task's working directory as the Hadoop engine ships it: the node runner as
    ``mrrunner.py``, Luigi's ``packages.tar`` and the job spec. Its path."""
    import luigi
    import luigi_hadoop

    import streamjobs
    from streamjobs.engines.hadoop import job_spec
    from streamjobs.engines.hadoop import luigi_hadoop as luigi_hadoop_contrib

    node = os.path.join(work, "node-task")
    os.makedirs(node, exist_ok=True)
    shutil.copy(node_runner.__file__, os.path.join(node, "mrrunner.py"))
    # The same packages Luigi's HadoopJobRunner archives: luigi, our package, the job.
    luigi_hadoop_contrib.create_packages_archive(
        [luigi, streamjobs, luigi_hadoop], os.path.join(node, "packages.tar")
    )
    with open(os.path.join(node, node_runner.SPEC_FILE), "w") as out:
        json.dump(job_spec(ThresholdFilter(DEFAULT_THRESHOLD)), out)
    return node


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def run_all(variants: list[Variant], work: str, env: dict, repeat: int, timeout: float) -> None:
    for round_number in range(repeat):
        for variant in variants:
            if variant.error:
                continue
            remove(os.path.join(work, variant.output))
            try:
                wall, cpu, peak = run_timed(variant.command, work, env, timeout)
            except RuntimeError as exc:
                variant.error = str(exc)
                print(f"  {variant.name}: FAILED {exc}", file=sys.stderr)
                continue
            variant.walls.append(wall)
            variant.cpus.append(cpu)
            variant.peak_rss = max(variant.peak_rss, peak)
            print(
                f"  round {round_number + 1}/{repeat} {variant.name}: {wall:.2f} s",
                file=sys.stderr,
            )


def check_records(variants: list[Variant], work: str) -> None:
    """Compare each variant's records with the post's mapper on the same input."""
    reference = {}
    for variant in variants:
        if variant.name in (POST_NAME, POST_ONE_FILE_NAME) and not variant.error:
            reference[variant.one_file] = selected_records(os.path.join(work, variant.output))
    for variant in variants:
        if variant.error:
            continue
        records = selected_records(os.path.join(work, variant.output))
        variant.records = len(records)
        expected = reference.get(variant.one_file)
        variant.matches = expected is not None and records == expected


def table(variants: list[Variant], lines_all: int, lines_one: int) -> str:
    """The markdown table of the results."""
    baseline = {
        v.one_file: statistics.median(v.walls)
        for v in variants
        if v.name in (POST_NAME, POST_ONE_FILE_NAME) and v.walls
    }
    rows = [
        "| variant | input lines | median wall s | median CPU s | lines/s "
        "| speed vs post's mapper | peak RSS MB | records |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in variants:
        lines = lines_one if v.one_file else lines_all
        if v.error or not v.walls:
            rows.append(f"| {v.name} | {lines:,} | failed: {v.error} | | | | | |")
            continue
        wall, cpu = statistics.median(v.walls), statistics.median(v.cpus)
        speed = baseline[v.one_file] / wall if v.one_file in baseline else float("nan")
        check = f"{v.records} {'same' if v.matches else 'DIFFERENT'}"
        rows.append(
            f"| {v.name} | {lines:,} | {wall:.2f} | {cpu:.2f} | {lines / wall:,.0f} "
            f"| {speed:.1f}x | {v.peak_rss / 2**20:.0f} | {check} |"
        )
    return "\n".join(rows) + "\n"


def chart(variants: list[Variant], path: str, title: str) -> bool:
    """A horizontal bar chart of median wall times; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    done = [v for v in variants if v.walls and not v.error]
    names = [v.name for v in done][::-1]
    walls = [statistics.median(v.walls) for v in done][::-1]
    colours = [
        "tab:green" if v.name.startswith(("streamjobs", "node")) else "tab:gray" for v in done
    ][::-1]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(done) + 1.4))
    bars = axes.barh(names, walls, color=colours)
    axes.bar_label(bars, labels=[f"{w:.2f} s" for w in walls], padding=3, fontsize=8)
    axes.set_xlabel("median wall time, seconds (lower is better)")
    axes.set_title(title, fontsize=10)
    axes.set_xlim(0, max(walls) * 1.15)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def prepare(work: str, files: int, lines: int) -> tuple[str, str]:
    """The dataset (generated when missing) and the helper scripts, in ``work``."""
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, f"data-{files}x{lines}")
    expected = [os.path.join(data, f"dat_{number}.json") for number in range(files)]
    if not all(os.path.exists(path) for path in expected):
        print(f"generating {files} x {lines:,} lines into {data}", file=sys.stderr)
        generate(data, files, lines)
    for name, text in (
        ("json_mapper.py", POST_MAPPER),
        ("map.jq", POST_JQ),
        ("pyspark_job.py", PYSPARK_SCRIPT),
    ):
        with open(os.path.join(work, name), "w") as out:
            out.write(text)
    return data, expected[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4, help="input files (default 4)")
    parser.add_argument(
        "--lines-per-file", type=int, default=1_000_000, help="lines a file (default 1000000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant (default 3)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke test: 4 x 20,000 lines, one run each"
    )
    parser.add_argument("--work", default="bench_out", help="work directory (default bench_out)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a run may take")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.lines_per_file, args.repeat = 4, 20_000, 1
    work = os.path.abspath(args.work)
    data, first_file = prepare(work, args.files, args.lines_per_file)
    env = dict(os.environ, PYTHONPATH=project_pythonpath(), SPARK_LOCAL_IP="127.0.0.1")
    # Look job modules up where the subprocesses will find them.
    sys.path[:0] = [p for p in env["PYTHONPATH"].split(os.pathsep) if p not in sys.path]
    variants, notes = plan_variants(data, first_file)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    run_all(variants, work, env, args.repeat, args.timeout)
    check_records(variants, work)
    lines_all = args.files * args.lines_per_file
    result = table(variants, lines_all, args.lines_per_file)
    conditions = (
        f"{args.files} x {args.lines_per_file:,} lines, {os.cpu_count()} cores, "
        f"median of {args.repeat}, Python {sys.version.split()[0]}"
    )
    print(f"\n{conditions}\n")
    print(result)
    for note in notes:
        print(f"- {note}")
    with open(os.path.join(work, "bench.md"), "w") as out:
        out.write(f"{conditions}\n\n{result}")
    with open(os.path.join(work, "bench.json"), "w") as out:
        json.dump(
            {
                "conditions": conditions,
                "notes": notes,
                "variants": [
                    {
                        "name": v.name,
                        "command": v.command,
                        "one_file": v.one_file,
                        "walls": v.walls,
                        "cpus": v.cpus,
                        "peak_rss": v.peak_rss,
                        "records": v.records,
                        "matches": v.matches,
                        "error": v.error,
                    }
                    for v in variants
                ],
            },
            out,
            indent=2,
        )
    if chart(variants, os.path.join(work, "bench.png"), conditions):
        print(f"chart: {os.path.join(work, 'bench.png')}")
    else:
        print("chart: skipped (matplotlib is not installed: pip install 'streamjobs[bench]')")
    matched = all(v.matches for v in variants if not v.error)
    print("records: all variants selected the same records" if matched else "records: DIFFERENT")
    # An optional variant that failed (a tool set up wrongly) is shown in the table; the
    # run fails when records differ or one of the project's own variants failed.
    core_failed = [v.name for v in variants if v.error and v.name in CORE_VARIANTS]
    return 0 if matched and not core_failed else 1


if __name__ == "__main__":
    sys.exit(main())
