"""A CeleryExecutor Airflow cluster on this one machine, without containers: ``make cluster``.

``start`` installs PostgreSQL and Redis from Debian's packages when they are missing, and starts, each
as its own process with a pid file under ``.cluster/pids/``: PostgreSQL, Redis, the Prediction One
emulator, and Airflow's api-server, scheduler, dag-processor, triggerer and two Celery workers (each
with its own working directory, TMPDIR and log-server port). Every start is a fresh cluster: the
previous ``.cluster/`` is removed first (the emulator keeps nothing across restarts either).
``stop`` ends exactly the processes named by the pid files, with their children. ``status`` lists
them. Run it with the cluster's virtualenv (``.venv-cluster``, see ``mk/cluster.mk``)::

    python cluster/cluster.py start|stop|status

The Airflow settings are written to ``.cluster/airflow/airflow.cfg`` (``airflow_cfg`` below);
docs/deployment.md explains each one.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("CLUSTER_DIR", ROOT / ".cluster")).resolve()
BIN = Path(sys.executable).parent
HOME = STATE / "airflow"  # AIRFLOW_HOME
PIDS = STATE / "pids"
LOGS = STATE / "logs"
SHARED = STATE / "shared"  # what every worker reads and writes: results, predictions (file:// URLs)

PORTS = {
    "postgres": int(os.environ.get("CLUSTER_POSTGRES_PORT", "15432")),
    "redis": int(os.environ.get("CLUSTER_REDIS_PORT", "16379")),
    "emulator": int(os.environ.get("CLUSTER_EMULATOR_PORT", "18765")),
    "api-server": int(os.environ.get("CLUSTER_API_PORT", "18080")),
    "triggerer": 8794,  # [logging] trigger_log_server_port (Airflow's default)
}
WORKERS = {"worker1": 8793, "worker2": 8795}  # [logging] worker_log_server_port of each Celery worker
WORKER_CONCURRENCY = int(os.environ.get("CLUSTER_WORKER_CONCURRENCY", "8"))
# The workers run at a lower CPU priority than the triggerer: on one shared host, 16 task processes
# starting at once (200 waits resuming) would otherwise starve the triggerer's event loop, which a
# production triggerer on its own machine (or with its own CPU share) never sees.
WORKER_NICE = int(os.environ.get("CLUSTER_WORKER_NICE", "10"))
# And the triggerer above the other Airflow processes (as root; otherwise `nice` says it cannot and
# runs it at the normal priority): its one event loop runs every deferred wait, and Airflow warns when
# a step of it waits 0.2 s, which on 2 shared cores the api-server, scheduler and PostgreSQL can cause.
TRIGGERER_NICE = int(os.environ.get("CLUSTER_TRIGGERER_NICE", "-10"))
# Airflow's recovery timers, shortened so that a killed worker's task is retried within seconds.
HEARTBEAT_TIMEOUT = int(os.environ.get("CLUSTER_HEARTBEAT_TIMEOUT", "20"))  # default 300
RETRY_DELAY = int(os.environ.get("CLUSTER_RETRY_DELAY", "5"))  # the example DAGs' own: 300
TRIGGERER_HEALTH_THRESHOLD = 15  # default 30: a dead triggerer's triggers move after this
EMULATOR_SECRET_KEY = "cluster-secret-key"
API_URL = f"http://127.0.0.1:{PORTS['api-server']}"
EMULATOR_URL = f"http://127.0.0.1:{PORTS['emulator']}"
DB_URL = f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{PORTS['postgres']}/airflow"
AIRFLOW_ORDER = ("api-server", "scheduler", "dag-processor", "triggerer", *WORKERS)
ORDER = ("postgres", "redis", "emulator", *AIRFLOW_ORDER)


def log(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- packages and the database ----------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian: /usr/lib/postgresql/<v>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def install_packages() -> None:
    """apt-get install what is missing (PostgreSQL, Redis): Debian's packages; needs root."""
    present = {"postgresql": postgres_bin() is not None, "redis-server": shutil.which("redis-server") is not None}
    missing = [package for package, found in present.items() if not found]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"cluster: {' '.join(missing)} missing: apt-get install {' '.join(missing)} (as root)")
    log(f"apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    subprocess.run(install, check=True, env=env, stdout=subprocess.DEVNULL)


def _as_postgres() -> dict[str, str]:
    """PostgreSQL refuses to run as root: as root, its processes run as Debian's ``postgres`` user."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


def pg_data() -> Path:
    """The data folder (also the socket folder): ``.cluster/postgres``, or where that link points."""
    return (STATE / "postgres").resolve()


def init_postgres() -> None:
    """Create a database cluster with the ``airflow`` role and database (the server is started after)."""
    data = STATE / "postgres"
    if os.geteuid() == 0 and subprocess.run(["test", "-x", str(STATE)], **_as_postgres()).returncode != 0:
        # The postgres user cannot reach .cluster/ (a home folder that only root may enter): use /tmp.
        digest = hashlib.sha256(str(STATE).encode()).hexdigest()[:12]
        elsewhere = Path(f"/tmp/predictionone-cluster-postgres-{digest}")
        shutil.rmtree(elsewhere, ignore_errors=True)
        data.symlink_to(elsewhere)
        data = elsewhere
    data.mkdir(parents=True)
    pw_file = data.parent / f"{data.name}.password"
    pw_file.write_text("airflow\n")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(pw_file, "postgres", "postgres")
    initdb = [postgres_bin() / "initdb", "-D", data, "-U", "postgres", "--auth-local=trust",
              "--auth-host=scram-sha-256", f"--pwfile={pw_file}", "-E", "UTF8", "--locale=C.UTF-8"]  # fmt: skip
    subprocess.run(initdb, check=True, stdout=subprocess.DEVNULL, **_as_postgres())
    pw_file.unlink()


def create_database() -> None:
    psql = [str(postgres_bin() / "psql"), "-h", str(pg_data()), "-p", str(PORTS["postgres"]), "-U", "postgres", "-q"]
    for statement in ("CREATE ROLE airflow LOGIN PASSWORD 'airflow'", "CREATE DATABASE airflow OWNER airflow"):
        subprocess.run([*psql, "-c", statement], check=True, **_as_postgres())


# -- Airflow's configuration ------------------------------------------------------------------


def airflow_cfg() -> str:
    """airflow.cfg of every Airflow process (per-worker settings come from each worker's environment)."""
    bundles = [
        {"name": "examples", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": str(ROOT / "dags_examples")}},
        {"name": "cluster-tests", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": str(ROOT / "cluster" / "dags")}},
    ]  # fmt: skip
    return f"""\
[core]
executor = CeleryExecutor
dags_folder = {ROOT / "dags_examples"}
load_examples = False
test_connection = Enabled
fernet_key = {secrets.token_urlsafe(32)}=
parallelism = 64
execution_api_server_url = {API_URL}/execution/
simple_auth_manager_users = admin:admin
simple_auth_manager_passwords_file = {HOME / "passwords.json"}

[database]
sql_alchemy_conn = {DB_URL}

[dag_processor]
dag_bundle_config_list = {json.dumps(bundles)}

[api]
host = 127.0.0.1
port = {PORTS["api-server"]}
base_url = {API_URL}
workers = 1
secret_key = {secrets.token_urlsafe(32)}

[api_auth]
jwt_secret = {secrets.token_urlsafe(32)}

[logging]
base_log_folder = {LOGS / "tasks"}
worker_log_server_port = {WORKERS["worker1"]}
trigger_log_server_port = {PORTS["triggerer"]}

[scheduler]
task_instance_heartbeat_timeout = {HEARTBEAT_TIMEOUT}
task_instance_heartbeat_timeout_detection_interval = 5

[triggerer]
triggerer_health_check_threshold = {TRIGGERER_HEALTH_THRESHOLD}

[celery]
broker_url = redis://127.0.0.1:{PORTS["redis"]}/0
result_backend = db+postgresql://airflow:airflow@127.0.0.1:{PORTS["postgres"]}/airflow
worker_concurrency = {WORKER_CONCURRENCY}
"""


def airflow_env() -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREDICTIONONE_CHECK_INTERVAL": "1",  # the example DAGs poll every second against the emulator
        "PREDICTIONONE_OUTPUT_URL": (SHARED / "predictions" / "customers_predictions.csv").as_uri(),
        "CLUSTER_RETRY_DELAY": str(RETRY_DELAY),  # read by the cluster policy (airflow_local_settings.py)
    }


def prepare_airflow() -> None:
    (HOME / "config").mkdir(parents=True)
    (HOME / "airflow.cfg").write_text(airflow_cfg(), encoding="utf-8")
    (HOME / "passwords.json").write_text(json.dumps({"admin": secrets.token_urlsafe(12)}), encoding="utf-8")
    shutil.copy(ROOT / "cluster" / "airflow_local_settings.py", HOME / "config" / "airflow_local_settings.py")
    env = airflow_env()
    log("airflow db migrate")
    with open(LOGS / "db-migrate.log", "wb") as out:
        subprocess.run([BIN / "airflow", "db", "migrate"], check=True, env=env, stdout=out, stderr=subprocess.STDOUT)
    conn = {"conn_type": "predictionone", "host": EMULATOR_URL, "password": EMULATOR_SECRET_KEY}
    subprocess.run(
        [BIN / "airflow", "connections", "add", "predictionone_default", "--conn-json", json.dumps(conn)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip


# -- processes --------------------------------------------------------------------------------


def command(name: str) -> tuple[list[str], dict[str, str], Path]:
    """The command line, environment and working directory of one component."""
    if name == "postgres":
        argv = [str(postgres_bin() / "postgres"), "-D", str(pg_data()), "-p", str(PORTS["postgres"]),
                "-k", str(pg_data()), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300",
                # A throw-away test database: no waiting for the disk on commit (never in production).
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]  # fmt: skip
        return argv, dict(os.environ), pg_data()
    if name == "redis":
        argv = ["redis-server", "--port", str(PORTS["redis"]), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                "no", "--dir", str(STATE / "redis")]  # fmt: skip
        return argv, dict(os.environ), STATE / "redis"
    if name == "emulator":
        argv = [str(BIN / "predictionone-emulator"), "--port", str(PORTS["emulator"]), "--secret-key",
                EMULATOR_SECRET_KEY, "--train-seconds", "5", "--build-seconds", "1", "--enable-control",
                "--verbose", "--data-dir", str(STATE / "emulator-data")]  # fmt: skip
        return argv, dict(os.environ), STATE
    env = airflow_env()
    airflow = str(BIN / "airflow")
    if name in WORKERS:
        workdir = STATE / name
        env.update({"TMPDIR": str(workdir / "tmp"), "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(WORKERS[name])})
        argv = ["nice", "-n", str(WORKER_NICE), airflow, "celery", "worker", "--celery-hostname", f"{name}@%h"]
        return argv, env, workdir
    if name == "api-server":
        return [airflow, "api-server"], env, HOME
    if name == "triggerer" and os.environ.get("CLUSTER_ASYNCIO_DEBUG"):
        env["PYTHONASYNCIODEBUG"] = "1"  # asyncio logs each step of a coroutine that holds the loop > 0.1 s
    if name == "triggerer":
        return ["nice", "-n", str(TRIGGERER_NICE), airflow, name], env, HOME
    return [airflow, name], env, HOME  # scheduler, dag-processor


def pid_file(name: str) -> Path:
    return PIDS / f"{name}.pid"


def launch(name: str) -> psutil.Process:
    """Start one component in its own session, output to .cluster/logs/<name>.log, pid file written."""
    argv, env, cwd = command(name)
    with open(LOGS / f"{name}.log", "ab") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, **(_as_postgres() if name == "postgres" else {}),
        )  # fmt: skip
    proc = psutil.Process(process.pid)
    pid_file(name).write_text(f"{proc.pid} {proc.create_time()}\n")
    return proc


def running(name: str) -> psutil.Process | None:
    """The component's process if its pid file names a live process started at the recorded time."""
    try:
        pid, created = pid_file(name).read_text().split()
        proc = psutil.Process(int(pid))
        if abs(proc.create_time() - float(created)) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except (FileNotFoundError, ValueError, psutil.Error):
        pass
    return None


def tree(proc: psutil.Process) -> list[psutil.Process]:
    """The process and all its descendants (a task runs in its own process group, so not a killpg)."""
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill(name: str, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to a component and all its descendants at once; the pids signalled."""
    proc = running(name)
    victims = tree(proc) if proc else []
    for victim in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.send_signal(sig)
    return [v.pid for v in victims]


def stop_component(name: str, grace: float = 20.0) -> None:
    proc = running(name)
    if proc is not None:
        # PostgreSQL: SIGINT is its "fast" shutdown. The others shut down on SIGTERM.
        victims = [proc] if name == "postgres" else tree(proc)
        for victim in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.send_signal(signal.SIGINT if name == "postgres" else signal.SIGTERM)
        _gone, alive = psutil.wait_procs(victims, timeout=grace)
        for victim in alive + [p for p in tree(proc) if p not in victims]:
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.kill()
        psutil.wait_procs(alive, timeout=5)
    pid_file(name).unlink(missing_ok=True)


# -- waiting until ready ----------------------------------------------------------------------


def wait_for(what: str, ready, timeout: float, name: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name is not None and running(name) is None:
            raise SystemExit(f"cluster: {name} exited; see {LOGS / (name + '.log')}")
        try:
            if ready():
                return
        except (OSError, httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"cluster: {what} not ready after {timeout:.0f} s; see {LOGS}")


def log_has(name: str, text: str) -> bool:
    return text in (LOGS / f"{name}.log").read_text(errors="replace")


def airflow_healthy() -> bool:
    health = httpx.get(f"{API_URL}/api/v2/monitor/health", timeout=5).json()
    return all(health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler", "triggerer",
                                                                             "dag_processor"))  # fmt: skip


def start_component(name: str) -> None:
    """(Re)start one Airflow component and wait until it is ready."""
    launch(name)
    if name in WORKERS:
        wait_for(f"Celery {name}", lambda: log_has(name, f"{name}@") and log_has(name, " ready."), 120, name)


# -- commands ---------------------------------------------------------------------------------


def start() -> None:
    if any(running(name) for name in ORDER):
        raise SystemExit("cluster: already running (python cluster/cluster.py stop, or make cluster-stop, first)")
    started = time.monotonic()
    install_packages()
    if (STATE / "postgres").is_symlink():
        shutil.rmtree((STATE / "postgres").resolve(), ignore_errors=True)
    shutil.rmtree(STATE, ignore_errors=True)
    for folder in (PIDS, LOGS / "tasks", SHARED, STATE / "redis", *(STATE / w / "tmp" for w in WORKERS)):
        folder.mkdir(parents=True, exist_ok=True)
    SHARED.chmod(0o777)
    log(f"PostgreSQL on 127.0.0.1:{PORTS['postgres']}")
    init_postgres()
    launch("postgres")
    pg_ready = [str(postgres_bin() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(PORTS["postgres"])]
    wait_for("PostgreSQL", lambda: subprocess.run(pg_ready).returncode == 0, 60, "postgres")
    create_database()
    log(f"Redis on 127.0.0.1:{PORTS['redis']}")
    launch("redis")
    wait_for("Redis", lambda: log_has("redis", "Ready to accept connections"), 30, "redis")
    log(f"Prediction One emulator on {EMULATOR_URL}")
    launch("emulator")
    wait_for("the emulator", lambda: log_has("emulator", "emulator listening on"), 30, "emulator")
    prepare_airflow()
    for name in AIRFLOW_ORDER:
        log(f"{'Celery' if name in WORKERS else 'airflow'} {name}")
        launch(name)
    wait_for("Airflow (api-server, scheduler, dag-processor, triggerer)", airflow_healthy, 240, "api-server")
    for name in WORKERS:
        wait_for(f"Celery {name}", lambda n=name: log_has(n, f"{n}@") and log_has(n, " ready."), 180, name)
    log(f"ready in {time.monotonic() - started:.0f} s: Airflow {API_URL} (user admin, password in "
        f"{HOME / 'passwords.json'}), emulator {EMULATOR_URL}, logs {LOGS}")  # fmt: skip


def stop() -> None:
    for name in reversed(ORDER):
        if pid_file(name).exists():
            stop_component(name)
            log(f"stopped {name}")


def status() -> int:
    up = 0
    for name in ORDER:
        proc = running(name)
        up += proc is not None
        print(f"{name:14} {'running, pid ' + str(proc.pid) if proc else 'stopped'}")
    return 0 if up == len(ORDER) else 1


def main(argv: list[str]) -> int:
    if argv[1:] == ["start"]:
        try:
            start()
        except BaseException:
            stop()  # whatever was started before the failure
            raise
        return 0
    if argv[1:] == ["stop"]:
        stop()
        return 0
    if argv[1:] == ["status"]:
        return status()
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
