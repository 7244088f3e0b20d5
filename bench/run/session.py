"""A suite run from start to end: validate, load data, run each job, store, report, record history.

Everything the user can get wrong (suite file, flags, data location, device) is checked before
the run directory is created or any training starts. With ``--shard I/N`` the run holds only
that shard's jobs (see ``bench.run.shard_plan``); under torchrun (``WORLD_SIZE`` > 1) every process
runs the same jobs together and rank 0 alone writes the run directory (see
``bench.run.distributed``).

After training nothing but the jobs decides the exit status: the tables are written, then the
history and the report, and a history or report that fails is one line on stderr. A run
directory that cannot be written stops the run (``WriteError``, exit 74) with the hint to resume
it. docs/reliability.md lists what a run promises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.data.imageset import DataSplits
from bench.data.pipeline import dataset_key, load_splits
from bench.errors import BenchError, WriteError
from bench.measure.doctor import take_snapshot
from bench.measure.environment import capture_environment
from bench.recipes.common import Artifact
from bench.results.records import EpochRecord, JobRecord, utc_now
from bench.results.rundir import Run, RunDir, TraceFiles, new_run_dir
from bench.run.distributed import Distributed, RanksDisagreeError, check_batch_split
from bench.run.gate import Gate
from bench.run.job import (
    JobEnvironment,
    JobStopped,
    Notice,
    RunOutput,
    TelemetryCsv,
    resolve_device,
    run_job,
    unavailable_device,
)
from bench.run.progress import Progress
from bench.run.shard_plan import format_plan, select_shard, suite_cost_counter
from bench.suite.matrix import Job, Suite, build_suite, load_suite
from bench.suite.shard import Shard, parse_shard


@dataclass(frozen=True)
class RunRequest:
    """What ``bench run`` was asked to do."""

    suite: str | None
    overrides: Sequence[str]
    models: str | None
    seeds: Sequence[int] | None
    data_dir: Path
    download: bool
    out: Path
    resume: Path | None
    dry_run: bool
    quiet: bool
    report: bool
    history_db: Path | None  # a path, "none", or None for the default
    argv: Sequence[str]
    shard: Shard | None = None
    gate: Gate | None = None  # judge the run against a baseline at the end
    mlflow: str | None = None  # log the run to MLflow at the end: a tracking URI, "" the default
    estimate: bool = False  # predict the jobs and print the predictions; nothing else
    predict: bool = False  # predict the jobs before they start, keeping each beside its record


def run_suite(request: RunRequest) -> int:
    """Run (or resume) a suite; 0 when every job ended ``ok``, 1 when some failed, 130 when
    interrupted; with a ``gate``, also 1 when the run regressed against the baseline (2 when
    the two cannot be compared); a ``WriteError`` (exit 74) when the run directory cannot be
    written."""
    dist = Distributed.from_env()
    main = dist is None or dist.is_main
    progress = Progress(quiet=request.quiet or not main)
    run_dir = RunDir.open(request.resume) if request.resume is not None else None
    previous = run_dir.read() if run_dir is not None else None
    full, shard = _suite(request, previous)
    if request.gate is not None:
        request.gate.check_suite(full.name)
    costs = suite_cost_counter(full)
    suite = select_shard(full, shard, previous, costs)
    if request.dry_run:
        if main:
            print(format_plan(full, suite, shard, costs))
        return 0
    if not suite.jobs:
        if main:
            print(f"shard {shard} of suite {suite.name} holds none of its {len(full.jobs)} jobs")
        return 0
    if dist is not None and (request.estimate or request.predict):
        flag = "--estimate" if request.estimate else "--predict"
        raise BenchError(f"{flag} runs in one process; start it without torchrun")
    if request.estimate:
        return _print_estimate(suite.jobs, request, progress)
    request = dataclasses.replace(request, history_db=_history_db(request, previous))
    if main and request.history_db is not None and str(request.history_db) != "none":
        _check_history_db(request.history_db)
    done = previous.finished_job_ids() if previous else set()
    skipped = {j.job_id: reason for j in suite.jobs if (reason := unavailable_device(j))}
    if main and skipped:
        _note_skipped(suite, skipped)
    pending = [job for job in suite.jobs if job.job_id not in done and job.job_id not in skipped]
    devices = {resolve_device(job.config.device).type for job in pending}
    if dist is not None:
        for job in pending:
            check_batch_split(job.config.batch_size, dist.world_size, f"job {job.job_id}")
    env = JobEnvironment(
        datasets=_load_datasets(pending, request), wrap_batches=progress.batches, dist=dist
    )
    predicted = _predicted(pending, env, progress) if request.predict else {}
    if dist is not None:
        dist.start(cuda="cuda" in devices)
    if not main:
        run_dir = None
    elif run_dir is None:
        run_dir = _create_run_dir(suite, request, shard, skipped)
    else:
        note = run_dir.cut_torn_tail()
        if note is not None:
            _warn(note)
        if done:
            progress.say(f"resuming {run_dir.path}: {len(done)} finished, {len(pending)} to run")
    if run_dir is not None:
        _note_missing_tensorboard(progress)
    try:
        code = _run_jobs(pending, run_dir, env, request, progress, predicted)
    except KeyboardInterrupt:
        if run_dir is not None:
            print(f"interrupted; {_finish_hint(run_dir)}", file=sys.stderr)
        return 130
    except WriteError as err:
        assert run_dir is not None, "only the process holding the run directory writes"
        raise WriteError(f"{err}; the run stops here, {_finish_hint(run_dir)}") from None
    return dist.finish(code) if dist is not None else code


def _note_missing_tensorboard(progress: Progress) -> None:
    from bench.export.tensorboard_events import missing_note

    if (note := missing_note()) is not None:
        progress.say(note)


def _print_estimate(jobs: Sequence[Job], request: RunRequest, progress: Progress) -> int:
    """Print each job's prediction (``--estimate``); 0 when every short run ended ``ok``, 1
    otherwise. Nothing is written."""
    from bench.run.estimate import estimate_jobs
    from bench.run.estimate_table import format_estimate

    start = time.perf_counter()
    datasets = _load_datasets(jobs, request)
    load_s = time.perf_counter() - start
    predictions = estimate_jobs(jobs, datasets, progress.say)
    print(format_estimate(predictions, load_s, time.perf_counter() - start), flush=True)
    return 0 if all(p.status == "ok" for p in predictions) else 1


def _predicted(
    jobs: Sequence[Job], env: JobEnvironment, progress: Progress
) -> dict[str, float | None]:
    """Each job's predicted time (``--predict``), from short runs before the first job, on
    data and with profiles of their own (the run's profile cache stays empty, so each job
    still counts its own)."""
    from bench.run.estimate import estimate_jobs

    start = time.perf_counter()
    predictions = estimate_jobs(jobs, env.datasets, progress.say)
    progress.say(f"predicted {len(jobs)} jobs in {time.perf_counter() - start:.1f} s")
    return {p.job_id: p.total_s for p in predictions}


def _finish_hint(run_dir: RunDir) -> str:
    return f"finish it with: python -m bench run --resume {run_dir.path}"


def _run_jobs(
    pending: Sequence[Job],
    run_dir: RunDir | None,
    env: JobEnvironment,
    request: RunRequest,
    progress: Progress,
    predicted: Mapping[str, float | None],
) -> int:
    """Run ``pending`` in order, each job's record carrying its ``predicted`` time, then write
    tables, history and report (into ``run_dir``: none on the processes other than rank 0). A
    job that ended differently on the processes of a distributed run stops the run."""
    stopped = False
    try:
        for index, job in enumerate(pending, start=1):
            progress.job_started(index, len(pending), job.job_id)
            _run_and_store(run_dir, job, env, progress, predicted.get(job.job_id))
    except RanksDisagreeError as err:
        stopped = True
        if run_dir is not None:
            print(f"{err}; the run stops here, {_finish_hint(run_dir)}", file=sys.stderr)
    if run_dir is None:
        return 1 if stopped else 0
    run = run_dir.read()
    run_dir.write_tables(run)
    judged = _finish(run, request)
    failed = [j for j in run.jobs if j["status"] != "ok"]
    return max(1 if failed or stopped else 0, judged)


def _run_and_store(
    run_dir: RunDir | None,
    job: Job,
    env: JobEnvironment,
    progress: Progress,
    predicted_s: float | None = None,
) -> None:
    """Run one job, storing what it yields (nothing without a run_dir), its record with
    ``predicted_s``. An interrupt that lands while a record is being stored, or a record that
    cannot be stored, is passed into the job so that it still records itself as
    ``interrupted``."""
    items = run_job(job, env)
    try:
        for item in items:
            if isinstance(item, JobRecord) and predicted_s is not None:
                item = dataclasses.replace(item, predicted_time_s=predicted_s)
            _store(run_dir, job.job_id, item, progress)
    except KeyboardInterrupt:
        _stop_job(items, KeyboardInterrupt(), run_dir, job.job_id, progress)
        raise
    except WriteError as err:
        _stop_job(items, JobStopped(f"run stopped: {err}"), run_dir, job.job_id, progress)
        raise


def _stop_job(
    items: RunOutput,
    reason: BaseException,
    run_dir: RunDir | None,
    job_id: str,
    progress: Progress,
) -> None:
    """Throw ``reason`` into the running job and store the ``interrupted`` record it yields,
    where the run directory still takes it."""
    try:
        final = items.throw(reason)
    except (type(reason), StopIteration):
        return
    with contextlib.suppress(WriteError):
        _store(run_dir, job_id, final, progress)


def _suite(request: RunRequest, run: Run | None) -> tuple[Suite, Shard | None]:
    """The whole suite (from the request, or from the run to resume) and its shard."""
    if run is not None:
        info, where = run.info, str(run.info_path)
        suite = build_suite(run.required("suite"), where, overrides=info.get("overrides", []))
        _check_recorded(run, suite)
        try:
            shard = parse_shard(info["shard"]) if info.get("shard") else None
        except ValueError as err:
            raise BenchError(f"{where}: field 'shard': {err}") from None
        return suite, shard
    assert request.suite is not None
    suite = load_suite(
        request.suite, overrides=request.overrides, models=request.models, seeds=request.seeds
    )
    return suite, request.shard


def _check_recorded(run: Run, suite: Suite) -> None:
    """Every record of ``run`` is of a job of ``suite``, the suite its run information holds:
    information of another suite document would make the resume mix two suites."""
    jobs = {job.job_id for job in suite.jobs}
    for record in run.records:
        if record["job_id"] not in jobs or record.get("suite") != suite.name:
            raise BenchError(
                f"{run.info_path}: holds suite {suite.name!r}, which has no job "
                f"{record['job_id']!r} of suite {record.get('suite')!r} recorded beside it; "
                "the file belongs to another suite document"
            )


def _note_skipped(suite: Suite, skipped: Mapping[str, str]) -> None:
    """One line on stderr: which variants are skipped, how many jobs, why."""
    jobs = [j for j in suite.jobs if j.job_id in skipped]
    variants = list(dict.fromkeys(j.variant for j in jobs))
    reasons = "; ".join(dict.fromkeys(skipped.values()))
    print(
        f"bench run: note: variant{'s' if len(variants) > 1 else ''} {', '.join(variants)} "
        f"skipped ({len(jobs)} job{'s' if len(jobs) > 1 else ''}): {reasons}; the other jobs "
        "run (a --resume on a machine that has the device runs these)",
        file=sys.stderr,
        flush=True,
    )


def _create_run_dir(
    suite: Suite, request: RunRequest, shard: Shard | None, skipped: Mapping[str, str]
) -> RunDir:
    environment = capture_environment(Path(__file__).resolve().parent)
    path = new_run_dir(request.out, environment["machine_id"], suite.name, environment["commit"])
    return RunDir.create(
        path,
        {
            "created_utc": utc_now(),
            "command": list(request.argv),
            "suite": dict(suite.document),
            "overrides": list(request.overrides),
            **({"shard": str(shard)} if shard else {}),
            **({"history_db": _db_text(request.history_db)} if request.history_db else {}),
            "environment": environment,
            "doctor": take_snapshot(request.data_dir),
            "jobs": [
                {
                    "job_id": j.job_id,
                    "model": j.model,
                    "seed": j.seed,
                    "variant": j.variant,
                    **({"skipped": skipped[j.job_id]} if j.job_id in skipped else {}),
                }
                for j in suite.jobs
            ],
        },
    )


def _load_datasets(jobs: Sequence[Job], request: RunRequest) -> dict[str, DataSplits]:
    """Each distinct data set of ``jobs``, loaded once."""
    datasets: dict[str, DataSplits] = {}
    for job in jobs:
        key = dataset_key(job.config)
        if key not in datasets:
            datasets[key] = load_splits(job.config.dataset, request.data_dir, request.download)
            if datasets[key].note:  # decoding, apart from training time
                print(datasets[key].note, file=sys.stderr, flush=True)
    return datasets


def _store(
    run_dir: RunDir | None,
    job_id: str,
    item: EpochRecord | JobRecord | Artifact | TelemetryCsv | TraceFiles | Notice,
    progress: Progress,
) -> None:
    if run_dir is None:
        return
    if isinstance(item, Artifact):
        run_dir.save_array(job_id, item.name, item.array)
        return
    if isinstance(item, Notice):
        print(item.text, file=sys.stderr, flush=True)
        return
    if isinstance(item, TelemetryCsv):
        run_dir.save_telemetry(job_id, item.text)
        return
    if isinstance(item, TraceFiles):
        run_dir.save_trace(job_id, item)
        return
    if isinstance(item, EpochRecord):
        run_dir.append(item)
        progress.epoch_done(item)
    else:
        run = run_dir.append(item)
        progress.job_done(item)
        _write_events(run, item)


def _write_events(run: Run, record: JobRecord) -> None:
    """The job's TensorBoard event file, from its records as stored (``run``, as read for its
    tables); a problem is a warning (the records hold everything: ``bench export tensorboard``
    writes it again)."""
    from bench.export import tensorboard_events

    if tensorboard_events.missing_note() is not None:
        return
    try:
        job = next(j for j in run.jobs if j["job_id"] == record.job_id)
        tensorboard_events.write_job_events(run, job)
    except (BenchError, OSError) as err:
        _warn(
            f"TensorBoard events not written: {_one_line(err)}; write them with: "
            f"python -m bench export tensorboard {run.path}"
        )


def _finish(run: Run, request: RunRequest) -> int:
    """Comparison, history, then report, and where to find them, from the run as read back once
    (its tables written); the comparison's exit status (0 without a gate). Neither the history
    nor the report can fail the run: a problem is one line on stderr."""
    db = request.history_db or run.path.parent.parent / "history.sqlite"
    lines = [f"results: {run.results_csv}"]
    judged = 0
    if request.gate is not None:  # before the history records this run, and the report links it
        judged, files = request.gate.judge(run, None if str(db) == "none" else db)
        lines += files
    recorded = str(db) != "none" and _record_history(db, run)
    html = _draw_report(run) if request.report else None
    logged = _log_mlflow(run, request.mlflow) if request.mlflow is not None else None
    lines += [
        *([f"report:  {html}"] if html else []),
        *([f"history: {db}"] if recorded else []),
        *([f"mlflow:  {logged}"] if logged else []),
    ]
    for line in lines:
        print(line, flush=True)
    return judged


def _history_db(request: RunRequest, previous: Run | None) -> Path | None:
    """The ``--history-db`` of the request, else the one the resumed run was started with
    (kept in its information as ``history_db``), else ``None`` (the default database)."""
    if request.history_db is not None or previous is None:
        return request.history_db
    recorded = previous.info.get("history_db")
    return Path(recorded) if recorded is not None else None


def _db_text(db: Path) -> str:
    """``db`` as the run's information keeps it: ``none``, or the path from the root (a resume
    may start elsewhere)."""
    return "none" if str(db) == "none" else str(db.absolute())


def _check_history_db(db: Path) -> None:
    """The history database's path, checked as ``bench history --record`` checks its
    ``--db`` (a ``BenchError``: one line naming ``--history-db``)."""
    from bench.regress.history import check_db_to_write

    check_db_to_write(db, "--history-db")


def _record_history(db: Path, run: Run) -> bool:
    """Record the run in the history database; whether it was (a warning where it was not).
    Its path is checked again: the default one was not before training, and a given one may
    have changed while the jobs ran."""
    from bench.regress.history import record_run_results
    from bench.results.run_results import results_of

    try:
        _check_history_db(db)
        aside = record_run_results(db, results_of(run))
    except (BenchError, OSError) as err:
        _warn(
            f"history not recorded: {_one_line(err)}; record it with: python -m bench history "
            f"--record {run.path} --db {db}"
        )
        return False
    if aside is not None:
        _warn(f"{db} was damaged: moved it to {aside} and started a new one")
    return True


def _log_mlflow(run: Run, uri: str) -> str | None:
    """The run logged to MLflow (after its report, whose files it keeps), in one line; ``None``
    (and a warning) where it was not."""
    from bench.export.mlflow_runs import export_run, summary

    try:
        return summary(export_run(run, uri or None, flag="--mlflow"))
    except (BenchError, OSError) as err:
        _warn(
            f"MLflow not logged: {_one_line(err)}; log it with: python -m bench export mlflow "
            f"{run.path}"
        )
        return None


def _draw_report(run: Run) -> Path | None:
    """The run's report page; ``None`` (and a warning) where it cannot be drawn."""
    from bench.report import write_report

    try:
        return write_report([run], run.path).html
    except Exception as err:  # out of memory in a figure, a full disk: the run itself stands
        _warn(
            f"report not drawn: {_one_line(err)}; draw it with: python -m bench report {run.path}"
        )
        return None


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def _one_line(err: BaseException) -> str:
    """``err`` on one line, with its type unless it is a ``BenchError`` (a message of bench's)."""
    text = " ".join(str(err).split())
    if isinstance(err, BenchError):
        return text
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
