#!/usr/bin/python3
"""Example: submit a training job to brnd, follow it, and print its per-epoch curve.

    /usr/bin/python3 client/python/example_submit.py --addr unix:/path/brnd.sock \
        --dataset synthetic --depth 10 --width 1 --epochs 2 --norm brn

Spec options are any `brnd train` flag as --name value (e.g. --batch-size 32); the ones
not given take the daemon's defaults. Exit status 0 iff the job SUCCEEDED.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brn_client  # noqa: E402


def parse_value(field, text):
    """Converts a flag's text to the proto field's Python type."""
    from google.protobuf.descriptor import FieldDescriptor as F
    t = field.type
    if field.label == F.LABEL_REPEATED:
        return [int(x) for x in text.split(",") if x]
    if t in (F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_UINT32):
        return int(text)
    if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return float(text)
    if t == F.TYPE_BOOL:
        return text.lower() in ("1", "true", "yes", "on")
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addr", help="brnd address (default: BRN_ADDR or the default socket)")
    ap.add_argument("--token", help="bearer token (default: BRN_TOKEN)")
    ap.add_argument("--tls", action="store_true", help="TLS to a TCP address (implied by --ca)")
    ap.add_argument("--ca", help="PEM file of the CA certificates to trust (default: BRN_CA)")
    ap.add_argument("--tls-server-name", help="the name the server's certificate carries, if not the host")
    ap.add_argument("--name", default="python-example", help="job label")
    ap.add_argument("--quiet", action="store_true", help="no per-epoch lines while waiting")
    args, rest = ap.parse_known_args()
    pb, _ = brn_client.load_stubs()
    fields = pb.JobSpec.DESCRIPTOR.fields_by_name
    spec = {}
    i = 0
    while i < len(rest):
        flag = rest[i]
        if not flag.startswith("--"):
            ap.error("unexpected argument %r" % flag)
        key, _, value = flag[2:].partition("=")
        key = key.replace("-", "_")
        if key not in fields:
            ap.error("--%s is not a job spec field the daemon accepts" % key.replace("_", "-"))
        if not value:
            if fields[key].type == fields[key].TYPE_BOOL and (i + 1 >= len(rest) or rest[i + 1].startswith("--")):
                value = "true"
            else:
                i += 1
                value = rest[i]
        spec[key] = parse_value(fields[key], value)
        i += 1

    try:
        return run(args, spec)
    except brn_client.TLSError as e:
        print("example_submit: %s (check --ca and --tls-server-name)" % e, file=sys.stderr)
        return 76


def run(args, spec):
    with brn_client.Client(args.addr, args.token, tls=args.tls, ca=args.ca, server_name=args.tls_server_name) as c:
        job = c.submit(name=args.name, **spec)
        print("submitted job %d" % job.id, flush=True)

        def show(ev):
            if ev.WhichOneof("event") == "epoch" and not args.quiet:
                e = ev.epoch
                print("  epoch %d: train loss %.4f acc %.2f%%" % (e.epoch, e.train_loss, 100 * e.train_acc), flush=True)

        final = c.wait(job.id, on_event=show)
        print("job %d %s" % (job.id, brn_client.state_name(final.state)))
        curve = c.curves([job.id])[0]
        print("%5s %10s %9s %10s %9s" % ("epoch", "train_loss", "train_acc", "test_loss", "test_acc"))
        for e in curve.epochs:
            test = ("%10.4f %8.2f%%" % (e.test_loss, 100 * e.test_acc)) if e.evaluated else "%10s %9s" % ("-", "-")
            print("%5d %10.4f %8.2f%% %s" % (e.epoch, e.train_loss, 100 * e.train_acc, test))
        return 0 if brn_client.state_name(final.state) == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
