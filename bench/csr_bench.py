"""Benchmark `certmgr csr new --due`: N RSA-2048 keys + CSRs, side by side with openssl.

    .venv/bin/python bench/csr_bench.py [--count 1000] [--runs 1] [--processes N]
        [--skip-openssl]

Target (issue 5): 1,000 RSA-2048 CSRs in at most 45 s on the 2-core reference machine,
and at least 5 times faster than a loop of `openssl req -newkey rsa:2048` processes.
Runs, on this machine:
- `openssl req loop`: one `openssl req -newkey rsa:2048 -nodes` process per CSR (what an
  operator's shell loop does; plaintext keys, no database);
- `certmgr csr new --due`: the real use case (`certmgr.services.enrol.generate_csrs`) on a
  fresh migrated SQLite home with N mailboxes: keys encrypted (PBES2, PBKDF2-SHA256
  600,000 rounds, the default), fsync'ed key and CSR files, one transaction per mailbox;
  one PBKDF2 run per batch (shared salt, own IV per file: see `enrol._Sealer`);
- the same with one PBKDF2 run per key (`share_kdf=False`);
- the same with `--insecure-plaintext-key`, to show what the key encryption costs;
- the per-key costs, single core: RSA-2048 generation, PBKDF2 encryption, CSR signing.
Every encrypted key is a standalone PKCS#8 file that opens alone with the passphrase.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from certmgr.config import Settings
from certmgr.pki.csr import SubjectSpec, build_csr
from certmgr.pki.keys import DEFAULT_KDF_ROUNDS, KeySpec, encrypt_key, generate_key
from certmgr.services.enrol import KeyOptions, generate_csrs
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.engine import make_engine
from certmgr.store.migrate import upgrade
from certmgr.store.session import open_store

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
IDNAT = "3" + "73282932000074"
SUBJ = ("/C=FR/ST=Paris (75)/O=Centre Hospitalier Bench/OU=373282932000074"
        "/CN=bal@bench.mssante.fr")
PASSPHRASE = b"bench passphrase"


def _openssl(count: int, out: Path) -> float:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("openssl not found (or use --skip-openssl)")
    start = time.perf_counter()
    for i in range(count):
        subprocess.run([openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(out / f"{i}.key"), "-out", str(out / f"{i}.csr"), "-subj", SUBJ],
                       check=True, capture_output=True)
    return time.perf_counter() - start


def _home(base: Path, count: int) -> Settings:
    home = base / "home"
    home.mkdir(mode=0o700)
    settings = Settings(home=home, db_url=f"sqlite:///{home / 'certmgr.sqlite3'}")
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    with open_store(settings) as store:
        for i in range(count):
            add_mailbox(store=store, spec=MailboxSpec(
                address=f"bal{i:05d}@bench.mssante.fr", idnat=IDNAT,
                organization="Centre Hospitalier Bench", department="75"), at=AT, actor="bench")
    return settings


def _certmgr(count: int, base: Path, *, options: KeyOptions, processes: int,
             share_kdf: bool = True) -> float:
    settings = _home(base, count)
    with open_store(settings) as store:
        addresses = [f"bal{i:05d}@bench.mssante.fr" for i in range(count)]
        start = time.perf_counter()
        report = generate_csrs(store=store, settings=settings, addresses=addresses,
                               options=options, passphrase=PASSPHRASE, at=AT, actor="bench",
                               processes=processes, share_kdf=share_kdf)
        seconds = time.perf_counter() - start
    if len(report.created) != count:
        raise SystemExit(f"only {len(report.created)} of {count} created: {report.failed[:3]}")
    return seconds


def _per_key(samples: int) -> dict[str, float]:
    """Median milliseconds per step, one core."""
    subject = SubjectSpec(departement="75", organization="Centre Hospitalier Bench",
                          idnat=IDNAT, common_name="bal@bench.mssante.fr")
    gen, enc, csr = [], [], []
    for _ in range(samples):
        t0 = time.perf_counter()
        key = generate_key(algorithm=KeySpec.RSA_2048)
        t1 = time.perf_counter()
        encrypt_key(key, passphrase=PASSPHRASE)
        t2 = time.perf_counter()
        build_csr(key=key, profile="ORG_AUTH_CLI", subject=subject)
        t3 = time.perf_counter()
        gen.append(t1 - t0)
        enc.append(t2 - t1)
        csr.append(t3 - t2)
    return {"RSA-2048 generation": statistics.median(gen) * 1000,
            f"PBKDF2 {DEFAULT_KDF_ROUNDS} + AES encryption": statistics.median(enc) * 1000,
            "CSR build + signature": statistics.median(csr) * 1000}


def _variants(args: argparse.Namespace) -> list[tuple[str, Callable[[Path], float]]]:
    """(name, run in a fresh directory -> seconds), openssl first: the reference."""
    count, processes = args.count, args.processes
    variants: list[tuple[str, Callable[[Path], float]]] = [
        ("certmgr csr new --due (encrypted)", lambda base: _certmgr(
            count, base, options=KeyOptions(), processes=processes)),
        ("certmgr, encrypted, PBKDF2 per key", lambda base: _certmgr(
            count, base, options=KeyOptions(), processes=processes, share_kdf=False)),
        ("certmgr csr new --due (plaintext)", lambda base: _certmgr(
            count, base, options=KeyOptions(plaintext=True), processes=processes)),
    ]
    if not args.skip_openssl:
        variants.insert(0, ("openssl req loop (plaintext keys)",
                            lambda base: _openssl(count, base)))
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=1,
                        help="Runs of every variant, interleaved (the median is reported).")
    parser.add_argument("--skip-openssl", action="store_true")
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    variants = _variants(args)
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    # Interleaved (run 1 of each variant, then run 2...): on a shared machine every
    # variant sees the same load drift, so the ratios stay comparable.
    for _ in range(args.runs):
        for name, measure in variants:
            with tempfile.TemporaryDirectory() as tmp:
                times[name].append(measure(Path(tmp)))
    print(f"{args.count} RSA-2048 CSRs, {args.processes} process(es), {os.cpu_count()} cores, "
          f"median of {args.runs} run(s), load average {os.getloadavg()[0]:.1f} at the end")
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    ref = None if args.skip_openssl else medians[variants[0][0]]
    for name, seconds in medians.items():
        versus = f"  x{ref / seconds:.2f} vs openssl" if ref else ""
        spread = f"  [{min(times[name]):.1f}-{max(times[name]):.1f}]" if args.runs > 1 else ""
        print(f"  {name:<38} {seconds:8.2f} s  {args.count / seconds:7.1f}/s{versus}{spread}")
    print(f"per key, one core (median of {args.samples}):")
    for name, ms in _per_key(args.samples).items():
        print(f"  {name:<38} {ms:8.1f} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
