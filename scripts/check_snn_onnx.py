#!/usr/bin/python3
"""Check *.snn.onnx files with the reference ONNX checker.

Usage: /usr/bin/python3 scripts/check_snn_onnx.py FILE.snn.onnx [...]

Loads each file with Debian's python3-onnx, runs onnx.checker.check_model
(custom-domain operators such as ai.snn IF pass because the domain is
declared in opset_import), and prints the opsets, metadata keys and node
counts per (domain, op). Exit status 1 when any file fails the check.
"""
import collections
import sys

import onnx


def check(path):
    model = onnx.load(path)
    onnx.checker.check_model(model)
    opsets = ", ".join("%s=%d" % (o.domain or "ai.onnx", o.version) for o in model.opset_import)
    counts = collections.Counter((n.domain or "ai.onnx", n.op_type) for n in model.graph.node)
    print("%s: OK (onnx %s checker, ir_version %d, opsets %s)" % (path, onnx.__version__, model.ir_version, opsets))
    print("  metadata: %s" % ", ".join(p.key for p in model.metadata_props))
    print("  %d nodes, %d initializers" % (len(model.graph.node), len(model.graph.initializer)))
    for (domain, op), n in sorted(counts.items()):
        print("  %-8s %-14s %d" % (domain, op, n))


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    failed = False
    for path in argv[1:]:
        try:
            check(path)
        except Exception as e:  # the checker raises several exception types
            print("%s: FAILED: %s" % (path, e))
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
