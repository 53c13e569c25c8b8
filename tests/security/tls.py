#!/usr/bin/python3
"""TLS to the inference servers (gRPC's own credentials), on loopback only.

Usage: tls.py MOTIFBENCH SCRATCH_DIR
A certificate for localhost / 127.0.0.1 is made with openssl. Checked:
  - serve refuses a private key that others can read, and a half TLS setting;
  - a run verifies an external TLS server with coupling.tls_ca (VALID);
  - a plaintext client, and a client trusting another root, fail promptly with
    an invalid result that passes validate;
  - embedded servers speak TLS with coupling.tls_cert/tls_key/tls_ca (VALID);
  - a cert without a root to verify it is refused before the run;
  - serve refuses a non-loopback address without a token.
"""
import json
import os
import subprocess
import sys
import time


def make_cert(folder, name):
    cert, key = os.path.join(folder, f"{name}.pem"), os.path.join(folder, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def main():
    exe, scratch = sys.argv[1:3]
    os.makedirs(scratch, exist_ok=True)
    cert, key = make_cert(scratch, "server")
    other, _ = make_cert(scratch, "other")
    problems = []

    # serve: key readable by others, half a setting.
    loose_key = os.path.join(scratch, "loose.key")
    with open(key) as f, open(loose_key, "w") as g:
        g.write(f.read())
    os.chmod(loose_key, 0o644)
    r = subprocess.run([exe, "serve", "--tls-cert", cert, "--tls-key", loose_key], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 2 or "owner only" not in r.stderr:
        problems.append(f"serve with a 0644 key: exit {r.returncode}, {r.stderr.strip()[-200:]!r}")
    r = subprocess.run([exe, "serve", "--tls-cert", cert], capture_output=True, text=True, timeout=30)
    if r.returncode != 2 or "together" not in r.stderr:
        problems.append(f"serve with --tls-cert only: exit {r.returncode}, {r.stderr.strip()[-200:]!r}")

    server = subprocess.Popen([exe, "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"FAIL tls: the TLS server did not start: {line!r}")
        endpoint = line.split("listening on ")[1].strip()
        base = [exe, "--motif=digital_replica", "--size=tiny", "--coupling=semi-tight", "--quiet", "--repetitions=1",
                "--min-time-s=0.5", f"--server={endpoint}", "--set", "coupling.timeout_s=3"]

        def run(name, extra):
            out = os.path.join(scratch, name + ".json")
            if os.path.exists(out):
                os.remove(out)
            t0 = time.time()
            r = subprocess.run(base + [f"--out={out}"] + extra, capture_output=True, text=True, timeout=120)
            return r, out, time.time() - t0

        r, out, _ = run("verified", ["--set", f"coupling.tls_ca={cert}"])
        if r.returncode != 0 or not json.load(open(out))["valid"]:
            problems.append(f"TLS client with the right root: exit {r.returncode}, {r.stderr.strip()[-300:]!r}")
        for name, extra in (("plaintext", []), ("wrong_root", ["--set", f"coupling.tls_ca={other}"])):
            r, out, took = run(name, extra)
            ok = r.returncode == 1 and os.path.exists(out) and took < 30
            if ok:
                result = json.load(open(out))
                ok = not result["valid"] and any("unreachable" in w for w in result["invalid_reasons"])
                v = subprocess.run([exe, "validate", out], capture_output=True, text=True, timeout=60)
                ok = ok and v.returncode == 0
            if not ok:
                problems.append(f"{name} client against the TLS server: exit {r.returncode} after {took:.1f} s, "
                                f"{r.stderr.strip()[-300:]!r}")
        if server.poll() is not None:
            problems.append("the TLS server died")
    finally:
        server.terminate()
        server.wait(timeout=10)

    # Embedded servers with TLS, over their Unix sockets.
    out = os.path.join(scratch, "embedded.json")
    r = subprocess.run([exe, "--motif=digital_replica", "--size=tiny", "--coupling=semi-tight", "--quiet",
                        "--repetitions=1", "--min-time-s=0.5", f"--out={out}", "--set", f"coupling.tls_cert={cert}",
                        "--set", f"coupling.tls_key={key}", "--set", f"coupling.tls_ca={cert}"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not json.load(open(out))["valid"]:
        problems.append(f"embedded TLS servers: exit {r.returncode}, {r.stderr.strip()[-300:]!r}")

    # A certificate with no root to verify it: refused before the run.
    out = os.path.join(scratch, "no_root.json")
    r = subprocess.run([exe, "--motif=digital_replica", "--size=tiny", "--coupling=semi-tight", f"--out={out}",
                        "--set", f"coupling.tls_cert={cert}", "--set", f"coupling.tls_key={key}"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 2 or "coupling.tls_ca" not in r.stderr or os.path.exists(out):
        problems.append(f"tls_cert without tls_ca: exit {r.returncode}, {r.stderr.strip()[-200:]!r}")

    # Beyond loopback a token is required (checked before anything binds, so
    # nothing listens on the network during this test).
    for address in ("0.0.0.0:0", "[::]:0", "192.0.2.1:50051"):
        r = subprocess.run([exe, "serve", "--listen", address], capture_output=True, text=True, timeout=30,
                           env={k: v for k, v in os.environ.items() if k != "MOTIFBENCH_TOKEN"})
        if r.returncode != 2 or "without a token" not in r.stderr or "--token-file" not in r.stderr:
            problems.append(f"serve --listen {address} without a token: exit {r.returncode}, "
                            f"{r.stderr.strip()[-200:]!r}")
    if problems:
        print("FAIL tls: " + " | ".join(problems))
        return 1
    print("ok tls: external TLS server verified; plaintext and wrong-root clients refused with valid invalid results; "
          "embedded TLS servers; bad settings refused up front")
    return 0


if __name__ == "__main__":
    sys.exit(main())
