"""The words of `certmgr.services.messages`, per language (str.format templates).

Placeholders are the keys of `messages._values`: mailbox, structure, serial,
fingerprint, not_after, issuer, threshold_days, days_left, days_text,
crl_issuer, next_update, order_ref, pending_days, endpoint, probe_status, job_name,
job_error, at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from certmgr.services.alert_events import AlertKind as K

__all__ = ["CATALOG", "RENEWAL_STEPS", "STEPS", "Catalog"]


@dataclass(frozen=True, slots=True)
class Catalog:
    lang: str
    subjects: Mapping[K, str]
    intros: Mapping[K, str]
    labels: Mapping[str, str]  # value key -> label, in display order
    days_left: str
    expired_since: str
    day_singular: str
    day_plural: str
    findings_title: str
    steps_title: str
    digest_subject: str
    digest_intro: str
    digest_empty: str
    footer: str
    date_format: str
    datetime_format: str

    def day_unit(self, n: int) -> str:
        # French uses the singular for 0 and 1, English only for 1.
        singular = n <= 1 if self.lang == "fr" else n == 1
        return self.day_singular if singular else self.day_plural


_FR = Catalog(
    lang="fr",
    subjects={
        K.EXPIRY_THRESHOLD: "[certmgr] {mailbox} : le certificat expire dans {days_text}",
        K.EXPIRED: "[certmgr] {mailbox} : certificat EXPIRÉ",
        K.REVOKED: "[certmgr] {mailbox} : certificat RÉVOQUÉ",
        K.CHAIN_INVALID: "[certmgr] {mailbox} : chaîne de certification invalide",
        K.CRL_STALE: "[certmgr] CRL périmée : {crl_issuer}",
        K.ORDER_PENDING: "[certmgr] {mailbox} : commande {order_ref} en attente depuis "
                         "{pending_days} jours",
        K.PROBE_FAILED: "[certmgr] {mailbox} : la connexion à {endpoint} échoue",
        K.JOB_FAILED: "[certmgr] échec de la tâche {job_name}",
        K.TEST: "[certmgr] message de test",
    },
    intros={
        K.EXPIRY_THRESHOLD: "Le certificat de la BAL applicative {mailbox} expire le {not_after}"
                            " ({days_text}, seuil d'alerte de {threshold_days} jours franchi).",
        K.EXPIRED: "Le certificat de la BAL applicative {mailbox} a expiré le {not_after} : "
                   "la BAL ne peut plus se connecter à MSSanté.",
        K.REVOKED: "Le certificat de la BAL applicative {mailbox} est révoqué : la BAL ne "
                   "peut plus se connecter à MSSanté.",
        K.CHAIN_INVALID: "La chaîne de certification du certificat de la BAL applicative "
                         "{mailbox} n'est plus valide.",
        K.CRL_STALE: "La CRL de {crl_issuer} n'a pas pu être renouvelée et a dépassé sa date "
                     "de prochaine mise à jour ({next_update}) : la révocation n'est plus "
                     "vérifiée.",
        K.ORDER_PENDING: "La commande {order_ref} du certificat de la BAL applicative {mailbox}"
                         " est en attente depuis {pending_days} jours.",
        K.PROBE_FAILED: "La sonde de la BAL applicative {mailbox} vers le serveur {endpoint} "
                        "échoue depuis le {at}, état {probe_status} : la BAL ne peut "
                        "probablement plus se connecter à son opérateur MSSanté.",
        K.JOB_FAILED: "La tâche planifiée {job_name} a échoué : {job_error}",
        K.TEST: "Ceci est un message de test de certmgr : ce canal d'alerte fonctionne.",
    },
    labels={
        "mailbox": "BAL applicative", "structure": "Structure",
        "endpoint": "Serveur sondé", "probe_status": "État de la sonde",
        "serial": "Numéro de série",
        "fingerprint": "Empreinte SHA-256", "not_after": "Expire le", "issuer": "Émetteur",
        "days_text": "Jours restants", "crl_issuer": "Émetteur de la CRL",
        "next_update": "Prochaine mise à jour", "order_ref": "Commande",
        "pending_days": "Jours d'attente", "job_name": "Tâche", "job_error": "Erreur",
        "at": "Date",
    },
    days_left="{n} {unit}",
    expired_since="expiré depuis {n} {unit}",
    day_singular="jour",
    day_plural="jours",
    findings_title="Constats :",
    steps_title="Que faire :",
    digest_subject="[certmgr] Récapitulatif du {date} : {count} alerte(s)",
    digest_intro="Récapitulatif certmgr du {date} pour {recipient} : {count} alerte(s).",
    digest_empty="Rien à signaler.",
    footer="Message envoyé automatiquement par certmgr.",
    date_format="%d/%m/%Y",
    datetime_format="%d/%m/%Y %H:%M",
)

_EN = Catalog(
    lang="en",
    subjects={
        K.EXPIRY_THRESHOLD: "[certmgr] {mailbox}: certificate expires in {days_text}",
        K.EXPIRED: "[certmgr] {mailbox}: certificate EXPIRED",
        K.REVOKED: "[certmgr] {mailbox}: certificate REVOKED",
        K.CHAIN_INVALID: "[certmgr] {mailbox}: certificate chain invalid",
        K.CRL_STALE: "[certmgr] stale CRL: {crl_issuer}",
        K.ORDER_PENDING: "[certmgr] {mailbox}: order {order_ref} pending for {pending_days} "
                         "days",
        K.PROBE_FAILED: "[certmgr] {mailbox}: connection to {endpoint} failing",
        K.JOB_FAILED: "[certmgr] job {job_name} failed",
        K.TEST: "[certmgr] test message",
    },
    intros={
        K.EXPIRY_THRESHOLD: "The certificate of the applicative mailbox {mailbox} expires on "
                            "{not_after} ({days_text}; the {threshold_days}-day alert threshold "
                            "was crossed).",
        K.EXPIRED: "The certificate of the applicative mailbox {mailbox} expired on {not_after}:"
                   " the mailbox can no longer log in to MSSanté.",
        K.REVOKED: "The certificate of the applicative mailbox {mailbox} is revoked: the "
                   "mailbox can no longer log in to MSSanté.",
        K.CHAIN_INVALID: "The certificate chain of the applicative mailbox {mailbox} is no "
                         "longer valid.",
        K.CRL_STALE: "The CRL of {crl_issuer} could not be refreshed and is past its next "
                     "update ({next_update}): revocation is no longer checked.",
        K.ORDER_PENDING: "Order {order_ref} for the certificate of the applicative mailbox "
                         "{mailbox} has been pending for {pending_days} days.",
        K.PROBE_FAILED: "The probe of the applicative mailbox {mailbox} to the server "
                        "{endpoint} has been failing since {at}, status {probe_status}: the "
                        "mailbox probably can no longer log in to its MSSanté operator.",
        K.JOB_FAILED: "The scheduled job {job_name} failed: {job_error}",
        K.TEST: "This is a certmgr test message: this alert channel works.",
    },
    labels={
        "mailbox": "Applicative mailbox", "structure": "Structure",
        "endpoint": "Probed server", "probe_status": "Probe status", "serial": "Serial number",
        "fingerprint": "SHA-256 fingerprint", "not_after": "Expires on", "issuer": "Issuer",
        "days_text": "Days left", "crl_issuer": "CRL issuer", "next_update": "Next update",
        "order_ref": "Order", "pending_days": "Days pending", "job_name": "Job",
        "job_error": "Error", "at": "Date",
    },
    days_left="{n} {unit}",
    expired_since="expired {n} {unit} ago",
    day_singular="day",
    day_plural="days",
    findings_title="Findings:",
    steps_title="What to do next:",
    digest_subject="[certmgr] Digest for {date}: {count} alert(s)",
    digest_intro="certmgr digest for {date}, for {recipient}: {count} alert(s).",
    digest_empty="Nothing to report.",
    footer="Sent automatically by certmgr.",
    date_format="%Y-%m-%d",
    datetime_format="%Y-%m-%d %H:%M",
)

CATALOG: Mapping[str, Catalog] = {"fr": _FR, "en": _EN}

RENEWAL_STEPS: Mapping[str, tuple[str, ...]] = {
    "fr": (
        "Générer une nouvelle clé et sa demande de certificat : certmgr csr new {mailbox}",
        "Déposer la demande (CSR) sur le portail IGC Santé de l'ANS, rubrique « Demander »",
        "Noter la référence de la commande : certmgr order mark {mailbox} --ref REF",
        "Une fois le certificat émis, le télécharger sur le portail, rubrique « Retirer »",
        "Importer le certificat : certmgr import FICHIER",
    ),
    "en": (
        "Generate a new key and its certificate request: certmgr csr new {mailbox}",
        'Upload the request (CSR) on the ANS IGC Santé portal, "Demander" (request) page',
        "Record the order reference: certmgr order mark {mailbox} --ref REF",
        ('Once the certificate is issued, download it from the portal, "Retirer" (collect) '
        "page"),
        "Import the certificate: certmgr import FILE",
    ),
}

STEPS: Mapping[str, Mapping[K, tuple[str, ...]]] = {
    "fr": {
        K.EXPIRY_THRESHOLD: (), K.EXPIRED: (),
        K.REVOKED: ("Cesser d'utiliser ce certificat et sa clé privée",),
        K.CHAIN_INVALID: (("Lire les constats ci-dessus ; si la cause est une autorité ou une "
                          "CRL, mettre à jour les ancres de confiance (certmgr trust) puis "
                          "relancer certmgr scan ; sinon renouveler le certificat :"),),
        K.CRL_STALE: (("Vérifier l'accès à igc-sante.esante.gouv.fr puis relancer : "
                      "certmgr crl refresh"),),
        K.ORDER_PENDING: (("Vérifier la commande sur le portail IGC Santé de l'ANS ; si le "
                          "certificat est émis, le télécharger, rubrique « Retirer »"),
                          "Importer le certificat : certmgr import FICHIER"),
        K.PROBE_FAILED: (
            "Relancer la sonde pour lire le détail : certmgr probe --mailbox {mailbox}",
            ("Connexion refusée, délai dépassé ou nom inconnu (TLS_CONNECT_REFUSED, "
             "TLS_TIMEOUT, TLS_DNS) : vérifier le réseau, le pare-feu et l'adresse du serveur ;"
             " si elle a changé, l'enregistrer : certmgr probe HÔTE:PORT --starttls smtp|imap "
             "--mailbox {mailbox} --record"),
            ("Certificat de la BAL refusé (CLIENT_CERT_REJECTED) : vérifier qu'il est valide "
             "(certmgr mailbox show {mailbox}) et connu de l'opérateur ; s'il est expiré ou "
             "révoqué, le renouveler : certmgr csr new {mailbox}"),
            ("Serveur non conforme (TLS_VERSION, SERVER_CERT_INVALID, SERVER_PROFILE) : le "
             "signaler à l'opérateur de messagerie ; MSSanté exige TLS 1.2 ou mieux et un "
             "certificat serveur IGC Santé ELEMENTAIRE ORGANISATIONS"),
        ),
        K.JOB_FAILED: ("Lire les journaux du service certmgr",
                       "Relancer la tâche : certmgr jobs run {job_name}"),
        K.TEST: (),
    },
    "en": {
        K.EXPIRY_THRESHOLD: (), K.EXPIRED: (),
        K.REVOKED: ("Stop using this certificate and its private key",),
        K.CHAIN_INVALID: (("Read the findings above; if a CA or a CRL is the cause, update the "
                          "trust anchors (certmgr trust) and run certmgr scan again; otherwise "
                          "renew the certificate:"),),
        K.CRL_STALE: ("Check access to igc-sante.esante.gouv.fr, then run: certmgr crl refresh",),
        K.ORDER_PENDING: (("Check the order on the ANS IGC Santé portal; once the certificate "
                          'is issued, download it from the "Retirer" (collect) page'),
                          "Import the certificate: certmgr import FILE"),
        K.PROBE_FAILED: (
            "Probe again to read the details: certmgr probe --mailbox {mailbox}",
            ("Connection refused, timed out or unknown name (TLS_CONNECT_REFUSED, TLS_TIMEOUT,"
             " TLS_DNS): check the network, the firewall and the server address; if it "
             "changed, record it: certmgr probe HOST:PORT --starttls smtp|imap --mailbox "
             "{mailbox} --record"),
            ("Mailbox certificate refused (CLIENT_CERT_REJECTED): check that it is valid "
             "(certmgr mailbox show {mailbox}) and known to the operator; if it expired or "
             "was revoked, renew it: certmgr csr new {mailbox}"),
            ("Server not compliant (TLS_VERSION, SERVER_CERT_INVALID, SERVER_PROFILE): report "
             "it to the mail operator; MSSanté requires TLS 1.2 or better and an IGC Santé "
             "ELEMENTAIRE ORGANISATIONS server certificate"),
        ),
        K.JOB_FAILED: ("Read the certmgr service logs",
                       "Run the job again: certmgr jobs run {job_name}"),
        K.TEST: (),
    },
}
