"""`certmgr inspect FILE...`: the facts and IGC Santé classification of certificates, and
what a file holds besides: CRLs (issuer, dates, number, entries), CSRs (subject, key,
signature) and private keys (type and size only, never their material)."""

from __future__ import annotations

from pathlib import Path

import click

from certmgr.cli._common import ExitCode, echo_json, json_option
from certmgr.errors import InputError
from certmgr.pki.anchors import is_impostor, pinned
from certmgr.pki.facts import CertFacts, certificate_facts, describe_key
from certmgr.pki.load import Bundle, load_bundle, read_input

__all__ = ["inspect_cmd"]


@click.command("inspect")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File whose first line is the passphrase of a PKCS#12 or encrypted key.",
)
@json_option
def inspect_cmd(files: tuple[Path, ...], passphrase_file: Path | None, as_json: bool) -> int:
    """Show the facts and IGC Santé classification of every certificate in FILES.

    Reads PEM (any number of blocks), DER, PKCS#7 (.p7b) and PKCS#12 files.
    """
    passphrase = _passphrase(passphrase_file)
    docs: list[dict[str, object]] = []
    blocks: list[str] = []
    for path in files:
        bundle = load_bundle(read_input(path), source=str(path), passphrase=passphrase)
        for item in bundle.certificates:
            facts = certificate_facts(item.certificate, der=item.der)
            impostor = is_impostor(item.certificate, der=item.der)
            docs.append(_json(str(path), facts, impostor))
            blocks.append(_text(str(path), facts, impostor))
        for doc in _others(bundle):
            docs.append(doc)
            blocks.append(_other_text(doc))
    if as_json:
        echo_json(docs)
    else:
        click.echo("\n\n".join(blocks))
    return ExitCode.OK


def _others(bundle: Bundle) -> list[dict[str, object]]:
    """The CRLs, CSRs and keys of `bundle`, as JSON objects with a `kind`."""
    from certmgr.pki.crl import CrlIndex  # noqa: PLC0415 - only for a file with a CRL

    out: list[dict[str, object]] = []
    for loaded in bundle.crls:
        idx = CrlIndex.build(loaded.crl, loaded.der)
        out.append({"source": bundle.source, "kind": "crl",
                    "issuer": loaded.crl.issuer.rfc4514_string(),
                    "this_update": idx.this_update.isoformat(),
                    "next_update": idx.next_update.isoformat() if idx.next_update else None,
                    "number": idx.number, "delta_of": idx.delta_base,
                    "entries": len(loaded.crl), "sha256": idx.id, "unusable": idx.unusable})
    out += [{"source": bundle.source, "kind": "csr", "subject": c.csr.subject.rfc4514_string(),
             "key": describe_key(c.csr.public_key()), "signature_valid": c.csr.is_signature_valid}
            for c in bundle.csrs]
    out += [{"source": bundle.source, "kind": "private-key", "key": describe_key(k.key)}
            for k in bundle.keys]
    return out


def _other_text(doc: dict[str, object]) -> str:
    source, kind = doc["source"], doc["kind"]
    if kind == "crl":
        delta = f", delta of #{doc['delta_of']}" if doc["delta_of"] is not None else ""
        lines = [f"{source}: CRL of {doc['issuer']}",
                 f"  number       {doc['number'] if doc['number'] is not None else '-'}{delta}",
                 f"  updates      {doc['this_update']} .. {doc['next_update'] or '-'}",
                 f"  entries      {doc['entries']}",
                 f"  sha256       {doc['sha256']}"]
        if doc["unusable"]:
            lines.append(f"  UNUSABLE     {doc['unusable']}")
        return "\n".join(lines)
    if kind == "csr":
        signature = "valid" if doc["signature_valid"] else "INVALID"
        return (f"{source}: certificate request {doc['subject']}\n"
                f"  key          {doc['key']}, self-signature {signature}"
                "\n  (`certmgr csr lint` checks it against an IGC Santé profile)")
    return f"{source}: private key {doc['key']} (its material is never shown)"


def _passphrase(path: Path | None) -> bytes | None:
    if path is None:
        return None
    lines = read_input(path, max_bytes=64 * 1024).splitlines()
    if not lines or not lines[0]:
        raise InputError("the first line is empty: no passphrase", source=path)
    return lines[0]


def _json(source: str, facts: CertFacts, impostor: bool) -> dict[str, object]:
    pin = pinned(facts.fingerprint_sha256)
    return {
        "source": source,
        "kind": "certificate",
        **facts.to_json(),
        "pinned_ans_ca": pin.name if pin else None,
        "impostor": impostor,
    }


def _text(source: str, facts: CertFacts, impostor: bool) -> str:
    pin = pinned(facts.fingerprint_sha256)
    where = ", ".join(
        str(part) for part in (facts.environment, facts.gamme, facts.domain) if part is not None
    )
    idnat = facts.idnat
    eku = ", ".join(facts.extended_key_usage) or "-"
    lines = [
        f"{source}: {facts.subject}",
        f"  issuer       {facts.issuer}",
        f"  serial       {facts.serial_hex}",
        f"  validity     {facts.not_before.isoformat()} .. {facts.not_after.isoformat()}",
        f"  key          {facts.key_type}-{facts.key_size}, signed {facts.signature_algorithm}",
        f"  usage        {', '.join(facts.key_usage) or '-'} / {eku}",
        f"  class        {facts.product} ({where})"
        + (" LEGACY GIP-CPS" if facts.legacy_gip_cps else ""),
        f"  sha256       {facts.fingerprint_sha256}",
    ]
    if idnat is not None:
        check = {True: "check digit ok", False: "WRONG check digit", None: "not checked"}
        verdict = check[idnat.check_digit_ok]
        lines.append(f"  idNat        {idnat.kind.name} {idnat.value} ({verdict})")
    if facts.san:
        lines.append(f"  san          {', '.join(facts.san)}")
    if pin is not None:
        lines.append(f"  pinned       ANS {pin.role} CA {pin.name}")
    if impostor:
        lines.append("  IMPOSTOR     claims to be an ANS CA but its fingerprint is not pinned")
    lines.extend(f"  unreadable   {error}" for error in facts.parse_errors)
    return "\n".join(lines)
