"""A test PKI that mirrors IGC Santé, generated from `manifest.toml`.

Used by the test suite (the committed set in fixtures/pki/fixed/, built at
`FIXED_AT`) and by `certmgr demo` (a fresh set relative to the current time).
Every CA carries `OU=IGC-SANTE FIXTURE` (or `OU=IGC-SANTE TEST` for the TEST
environment look-alike), so no fixture can pass for a production certificate;
the one exception is the declared impostor. Private keys live in `keys/` as
`<name>.TEST-KEY.pem`: they are test keys, public by design.

    index = build_pki(out_dir=tmp, at=FIXED_AT)
    leaf = index["el-org-auth-revoked"]
    index.path("crl-ACI-EL-ORG", "der")
"""

from __future__ import annotations

from certmgr.testpki.build import FIXED_AT, build_pki, render_pki, serial_for
from certmgr.testpki.index import Artifact, PkiIndex, load_index
from certmgr.testpki.keys import load_key
from certmgr.testpki.manifest import Manifest, load_manifest

__all__ = [
    "FIXED_AT",
    "Artifact",
    "Manifest",
    "PkiIndex",
    "build_pki",
    "load_index",
    "load_key",
    "load_manifest",
    "render_pki",
    "serial_for",
]
