"""A small Python client for brnd (the brn training daemon), over gRPC.

Uses Debian's python3-grpcio (run it with /usr/bin/python3). The message classes are
generated from the repository's proto/ files on first use, with protoc and
grpc_python_plugin, into a build directory (never committed):
$BRN_PY_GEN, else <repo>/build/python.

    from brn_client import Client
    c = Client()                                  # BRN_ADDR or brnd's default socket
    c = Client("host:7000", token="...", ca="ca.pem")   # TLS (brnd --tls-cert/--tls-key)
    job = c.submit(dataset="synthetic", depth=10, width=1, epochs=2, name="demo")
    final = c.wait(job.id, on_event=print)
    for e in c.curves([job.id])[0].epochs:
        print(e.epoch, e.train_loss, e.test_acc)

Sweeps and reports (brn_sweep.py, docs/sweeps.md):

    jobs = c.sweep("mb", grid={"norm": ["bn", "brn"], "microbatch": [0, 2]}, seeds=3,
                   dataset="synthetic", depth=10, width=1, epochs=2)
    c.wait_all(jobs)
    print(brn_sweep.report_table(c.report("mb")))
"""

import os
import shutil
import subprocess
import sys
import tempfile

import grpc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(REPO, "proto")
BRN_PROTO = "brn/v1/brn.proto"
HEALTH_PROTO = "grpc/health/v1/health.proto"
GRPC_PLUGIN = "/usr/bin/grpc_python_plugin"

TERMINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")

pb = None          # brn.v1 messages (brn_pb2)
pb_grpc = None     # brn.v1 stubs (brn_pb2_grpc)
health_pb = None   # grpc.health.v1 messages
health_grpc = None


def _gen_dir():
    return os.environ.get("BRN_PY_GEN") or os.path.join(REPO, os.environ.get("BUILD", "build"), "python")


def _stale(out_dir):
    stamp = os.path.join(out_dir, "brn", "v1", "brn_pb2.py")
    if not os.path.exists(stamp):
        return True
    t = os.path.getmtime(stamp)
    return any(os.path.getmtime(os.path.join(PROTO_DIR, p)) > t for p in (BRN_PROTO, HEALTH_PROTO))


def generate_stubs(out_dir=None):
    """Runs protoc into out_dir (atomically: concurrent tests may race) and returns it."""
    out_dir = out_dir or _gen_dir()
    if not _stale(out_dir):
        return out_dir
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".pygen-", dir=parent)
    # The health proto's own path (grpc/health/...) would shadow the grpc package in
    # Python: compile a copy under brn_health/ (the wire names stay grpc.health.v1).
    src = os.path.join(tmp, "src")
    os.makedirs(os.path.join(src, "brn_health"))
    shutil.copy(os.path.join(PROTO_DIR, HEALTH_PROTO), os.path.join(src, "brn_health", "health.proto"))
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    cmd = ["protoc", "-I" + PROTO_DIR, "-I" + src, "--python_out=" + out, "--grpc_python_out=" + out,
           "--plugin=protoc-gen-grpc_python=" + GRPC_PLUGIN, BRN_PROTO, "brn_health/health.proto"]
    subprocess.run(cmd, check=True)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir, ignore_errors=True)
    try:
        os.rename(out, out_dir)
    except OSError:
        pass  # another process won the race with the same files
    shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def load_stubs(out_dir=None):
    """Generates (when needed) and imports the stubs; returns (pb, pb_grpc)."""
    global pb, pb_grpc, health_pb, health_grpc
    if pb is None:
        d = generate_stubs(out_dir)
        if d not in sys.path:
            sys.path.insert(0, d)
        from brn.v1 import brn_pb2, brn_pb2_grpc
        from brn_health import health_pb2, health_pb2_grpc
        pb, pb_grpc, health_pb, health_grpc = brn_pb2, brn_pb2_grpc, health_pb2, health_pb2_grpc
    return pb, pb_grpc


def default_target():
    """gRPC target the way brnctl finds it: BRN_ADDR, else brnd's default unix socket."""
    addr = os.environ.get("BRN_ADDR")
    if not addr:
        xdg = os.environ.get("XDG_STATE_HOME")
        if xdg and xdg.startswith("/"):
            state = os.path.join(xdg, "brnd")
        elif os.geteuid() == 0:
            state = "/var/lib/brnd"
        else:
            state = os.path.join(os.path.expanduser("~"), ".local", "state", "brnd")
        addr = os.path.join(state, "brnd.sock")
    return to_target(addr)


def to_target(addr):
    if addr.startswith("unix:"):
        path = addr[5:]
        return "unix:" + (path if path.startswith("/") else os.path.abspath(path))
    if addr.startswith("/") or addr.startswith("."):
        return "unix:" + os.path.abspath(addr)
    if addr.startswith(":"):
        return "127.0.0.1" + addr
    return addr


def make_labels(labels):
    """Label messages from a dict {key: value} (values as text)."""
    load_stubs()
    return [pb.Label(key=k, value=str(v)) for k, v in (labels or {}).items()]


def make_spec(**fields):
    """A JobSpec from keyword arguments named like `brnd train`'s flags (with '_');
    only the given fields are set, the daemon applies its defaults to the rest."""
    load_stubs()
    spec = pb.JobSpec()
    for name, value in fields.items():
        if name not in pb.JobSpec.DESCRIPTOR.fields_by_name:
            raise ValueError("%s: not a job spec field the daemon accepts" % name)
        if name == "milestones":
            spec.milestones.extend(int(v) for v in value)
        else:
            setattr(spec, name, value)
    return spec


class TLSError(Exception):
    """The TLS handshake failed: the server's certificate is not signed by the given CA, does
    not carry the expected name, or the server does not use TLS."""


def is_tls_failure(err):
    """True when a grpc.RpcError says the TLS handshake failed."""
    details = err.details() if hasattr(err, "details") else str(err)
    return err.code() == grpc.StatusCode.UNAVAILABLE and any(
        s in (details or "") for s in ("andshake", "CERTIFICATE_VERIFY_FAILED", "SSL_ERROR", "WRONG_VERSION_NUMBER",
                                       "peer certificate"))


class Client:
    """Blocking calls with a deadline each; errors raise grpc.RpcError (TLSError when the
    TLS handshake fails).

    tls: use TLS (implied by ca); ca: path of a PEM file with the CA certificates to trust
    (default: BRN_CA, else gRPC's default roots); server_name: the name the server's
    certificate must carry when it differs from the address's host."""

    def __init__(self, addr=None, token=None, timeout=30.0, tls=False, ca=None, server_name=None):
        load_stubs()
        self.target = to_target(addr) if addr else default_target()
        self.timeout = timeout
        token = token if token is not None else os.environ.get("BRN_TOKEN")
        self.metadata = (("authorization", "Bearer " + token),) if token else ()
        ca = ca or os.environ.get("BRN_CA")
        self.tls = bool(tls or ca or server_name)
        if self.tls:
            if self.target.startswith("unix:"):
                raise ValueError("TLS needs a TCP address (host:port), not %s" % self.target)
            roots = None
            if ca:
                with open(ca, "rb") as f:
                    roots = f.read()
            options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
            self.channel = grpc.secure_channel(self.target, grpc.ssl_channel_credentials(root_certificates=roots),
                                               options=options)
        else:
            self.channel = grpc.insecure_channel(self.target)
        self.stub = pb_grpc.TrainerStub(self.channel)
        self.health_stub = health_grpc.HealthStub(self.channel)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, timeout=None):
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            if self.tls and is_tls_failure(e):
                raise TLSError("TLS handshake with %s failed: %s" % (self.target, e.details())) from e
            raise

    def submit(self, name="", priority=0, idempotency_key="", spec=None, labels=None, validate_only=False,
               **fields):
        """Queues a job; labels is a dict. validate_only: check it and return the job that would be
        created (id 0), or the one an idempotency_key already names; nothing is stored."""
        req = pb.SubmitJobRequest(spec=spec or make_spec(**fields), name=name, priority=priority,
                                  idempotency_key=idempotency_key, labels=make_labels(labels),
                                  validate_only=validate_only)
        return self._call(self.stub.SubmitJob, req)

    def get_job(self, job_id):
        return self._call(self.stub.GetJob, pb.GetJobRequest(id=job_id))

    def list_jobs(self, states=(), limit=100, labels=None):
        """Newest first; with labels (a dict) only the jobs carrying all of them."""
        jobs, token = [], ""
        while len(jobs) < limit:
            req = pb.ListJobsRequest(states=list(states), page_size=min(limit - len(jobs), 1000), page_token=token,
                                     labels=make_labels(labels))
            resp = self._call(self.stub.ListJobs, req)
            jobs.extend(resp.jobs)
            token = resp.next_page_token
            if not token or not resp.jobs:
                break
        return jobs[:limit]

    def cancel(self, job_id):
        return self._call(self.stub.CancelJob, pb.CancelJobRequest(id=job_id))

    def delete(self, job_id):
        """Deletes a finished job for good (checkpoint files, metrics, record); returns the
        DeleteJobResponse (id, bytes_freed). A queued or running job raises
        FAILED_PRECONDITION: cancel it first."""
        return self._call(self.stub.DeleteJob, pb.DeleteJobRequest(id=job_id))

    def watch(self, job_id, timeout=24 * 3600.0):
        """Yields WatchEvents until the job ends (the server closes the stream)."""
        return self.stub.WatchJob(pb.WatchJobRequest(id=job_id), timeout=timeout, metadata=self.metadata)

    def wait(self, job_id, on_event=None, timeout=24 * 3600.0):
        """Follows the job to its terminal state; returns the final Job."""
        last = None
        # Read to the stream's end: a finished job's stored epochs follow its final state.
        for ev in self.watch(job_id, timeout):
            if on_event:
                on_event(ev)
            if ev.WhichOneof("event") == "job":
                last = ev.job
        if last is None or pb.JobState.Name(last.state) not in TERMINAL:
            last = self.get_job(job_id)
        return last

    def curves(self, job_ids=(), labels=None):
        """GetMetrics: the curves of job_ids (at most 100) that carry labels; with labels only,
        of every job carrying them (at most 100)."""
        req = pb.GetMetricsRequest(job_ids=list(job_ids), labels=make_labels(labels))
        return list(self._call(self.stub.GetMetrics, req).curves)

    def sweep(self, name, grid, seeds=1, priority=0, dry_run=False, **fields):
        """Submits grid x seeds as labelled, idempotent jobs (brnctl sweep); see brn_sweep.sweep."""
        import brn_sweep
        return brn_sweep.sweep(self, name, grid, seeds=seeds, priority=priority, dry_run=dry_run, **fields)

    def wait_all(self, jobs, on_finished=None, poll=1.0):
        """Waits until every job is final; returns them as they ended (brn_sweep.wait_all)."""
        import brn_sweep
        return brn_sweep.wait_all(self, jobs, on_finished=on_finished, poll=poll)

    def report(self, name, baseline=None):
        """The sweep's report as a dict, the same as `brnctl report NAME --json` (brn_sweep.report)."""
        import brn_sweep
        return brn_sweep.report(self, name, baseline=baseline)

    def server_info(self):
        return self._call(self.stub.GetServerInfo, pb.GetServerInfoRequest())

    def health(self, service=""):
        """'SERVING', 'NOT_SERVING', ... from grpc.health.v1 Check."""
        resp = self._call(self.health_stub.Check, health_pb.HealthCheckRequest(service=service))
        return health_pb.HealthCheckResponse.ServingStatus.Name(resp.status)


def state_name(state):
    load_stubs()
    return pb.JobState.Name(state).replace("JOB_STATE_", "")
