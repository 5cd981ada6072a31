"""Test fixtures for `blankett_pades::verify`, made with pyHanko (the independent oracle).

Usage: make_fixtures.py OUT_DIR

Writes into OUT_DIR:
  ca.der                 P-256 CA certificate (the trust anchor)
  <name>.pdf             one PDF per fixture (see FIXTURES below)
  manifest.json          per fixture, pyHanko's verdict on every embedded signature

Keys and certificates are made afresh on every run with `cryptography`; nothing is fetched from
the network (pyHanko gets the CA's CRL handed to it and `allow_fetching=False`).
"""

import datetime
import json
import logging
import sys
from io import BytesIO
from pathlib import Path

from asn1crypto import crl as a_crl
from asn1crypto import keys as a_keys
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
NOT_BEFORE = NOW - datetime.timedelta(days=1)
NOT_AFTER = NOW + datetime.timedelta(days=365)


def p256_key():
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ca_certificate(key):
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Blankett Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Blankett Test CA"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def issued_certificate(ca_cert, ca_key, key, name_attributes, key_usage, eku=None):
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(name_attributes))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return builder.sign(ca_key, hashes.SHA256())


def key_usage(digital_signature, non_repudiation):
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def person(given, surname, serial):
    return [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{given} {surname}"),
        x509.NameAttribute(NameOID.GIVEN_NAME, given),
        x509.NameAttribute(NameOID.SURNAME, surname),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
    ]


def crl(ca_cert, ca_key, number, revoked_serials):
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(NOT_BEFORE)
        .next_update(NOW + datetime.timedelta(days=7))
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOT_BEFORE)
            .build()
        )
    return builder.sign(ca_key, hashes.SHA256())


def der(obj):
    return obj.public_bytes(serialization.Encoding.DER)


def a_cert(cert):
    return a_x509.Certificate.load(der(cert))


def a_key(key):
    return a_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def minimal_pdf():
    """A one-page PDF with a classic cross-reference table and no /Info."""
    content = b"BT /F1 24 Tf 72 760 Td (Hello Blankett) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


class Pki:
    def __init__(self):
        self.ca_key = p256_key()
        self.ca = ca_certificate(self.ca_key)
        nr_ds = key_usage(digital_signature=True, non_repudiation=True)
        self.tolvan_key = p256_key()
        self.tolvan = issued_certificate(
            self.ca,
            self.ca_key,
            self.tolvan_key,
            person("Tolvan", "Tolvansson", "PNOSE-197701172392"),
            nr_ds,
        )
        # The second signer has an RSA key so that both signature algorithms are exercised.
        self.second_key = rsa_key()
        self.second = issued_certificate(
            self.ca,
            self.ca_key,
            self.second_key,
            person("Greta", "Testsson", "PNOSE-189001019802"),
            nr_ds,
        )
        self.revoked_key = p256_key()
        self.revoked = issued_certificate(
            self.ca,
            self.ca_key,
            self.revoked_key,
            person("Rune", "Revokesson", "PNOSE-195001012384"),
            nr_ds,
        )
        self.tsa_key = rsa_key()
        self.tsa = issued_certificate(
            self.ca,
            self.ca_key,
            self.tsa_key,
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Blankett Test TSA"),
            ],
            key_usage(digital_signature=True, non_repudiation=False),
            eku=[ExtendedKeyUsageOID.TIME_STAMPING],
        )
        self.crl = crl(self.ca, self.ca_key, 1, [])
        self.crl_revoking = crl(self.ca, self.ca_key, 2, [self.revoked.serial_number])

    def validation_context(self, trusted=True):
        return ValidationContext(
            trust_roots=[a_cert(self.ca)] if trusted else [],
            other_certs=[a_cert(self.tsa)],
            crls=[a_crl.CertificateList.load(der(self.crl))],
            allow_fetching=False,
        )

    def timestamper(self):
        return DummyTimeStamper(
            tsa_cert=a_cert(self.tsa),
            tsa_key=a_key(self.tsa_key),
            certs_to_embed=SimpleCertificateStore.from_certs([a_cert(self.ca)]),
        )

    def sign(
        self,
        pdf,
        cert,
        key,
        field,
        box=None,
        timestamp=False,
        lt=False,
        lta=False,
        subfilter=SigSeedSubFilter.PADES,
    ):
        writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        meta = signers.PdfSignatureMetadata(
            field_name=field,
            subfilter=subfilter,
            embed_validation_info=lt,
            use_pades_lta=lta,
            validation_context=self.validation_context() if lt else None,
        )
        signer = signers.SimpleSigner(
            signing_cert=a_cert(cert),
            signing_key=a_key(key),
            cert_registry=SimpleCertificateStore.from_certs([a_cert(self.ca)]),
        )
        out = signers.sign_pdf(
            writer,
            meta,
            signer=signer,
            timestamper=self.timestamper() if timestamp else None,
            new_field_spec=SigFieldSpec(field, box=box) if box else None,
        )
        return out.getvalue()


def replace_once(data, old, new):
    assert data.count(old) == 1, old
    return data.replace(old, new)


def with_new_info(pdf):
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    info = generic.DictionaryObject(
        {generic.NameObject("/Title"): generic.TextStringObject("Changed after signing")}
    )
    writer.set_info(writer.add_object(info))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def with_new_page_content(pdf):
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 760 Td (Changed) Tj ET")
    page[generic.NameObject("/Contents")] = writer.add_object(stream)
    writer.mark_update(page_ref)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def with_revoking_dss(pki, pdf):
    out = BytesIO(pdf)
    DocumentSecurityStore.add_dss(
        out,
        None,
        certs=[a_cert(pki.ca)],
        crls=[a_crl.CertificateList.load(der(pki.crl_revoking))],
        force_write=True,
        strict=False,
    )
    return out.getvalue()


def flip_last_m_digit(pdf):
    """Changes the seconds of the last signature dictionary's /M (inside the last revision)."""
    start = pdf.rindex(b"/M (D")
    position = pdf.index(b")", start) - 2  # the last digit before the closing "Z)"
    flipped = b"0" if pdf[position : position + 1] != b"0" else b"1"
    return pdf[:position] + flipped + pdf[position + 1 :]


def pyhanko_verdicts(pki, pdf):
    """pyHanko's view of every embedded signature, with and without the CA as trust root."""
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception as error:  # noqa: BLE001 - the oracle may reject a broken file outright
        return {"error": repr(error), "signatures": []}
    verdicts = []
    for sig in embedded:
        entry = {"field": sig.field_name, "kind": sig.sig_object_type[1:]}
        for label, trusted in (("anchored", True), ("unanchored", False)):
            try:
                if sig.sig_object_type == "/DocTimeStamp":
                    status = validate_pdf_timestamp(
                        sig, validation_context=pki.validation_context(trusted)
                    )
                else:
                    status = validate_pdf_signature(sig, pki.validation_context(trusted))
                entry[label] = {
                    "intact": bool(status.intact),
                    "valid": bool(status.valid),
                    "trusted": bool(status.trusted),
                    "coverage": status.coverage.name if status.coverage else None,
                    "modification_level": (
                        status.modification_level.name if status.modification_level else None
                    ),
                }
            except Exception as error:  # noqa: BLE001 - record, the Rust test decides
                entry[label] = {"error": repr(error)}
        verdicts.append(entry)
    return {"signatures": verdicts}


def main():
    # pyHanko logs every failed path build (expected for the runs without a trust root).
    logging.disable(logging.CRITICAL)
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    pki = Pki()
    (out_dir / "ca.der").write_bytes(der(pki.ca))

    base = minimal_pdf()
    one = pki.sign(base, pki.tolvan, pki.tolvan_key, "Signature1")
    two = pki.sign(one, pki.second, pki.second_key, "Signature2", box=(72, 600, 272, 660))
    fixtures = {
        "unsigned": base,
        "two_signatures": two,
        "tampered_first_revision": replace_once(two, b"(Hello Blankett)", b"(Jello Blankett)"),
        "tampered_last_revision": flip_last_m_digit(two),
        "info_update": with_new_info(two),
        "page_update": with_new_page_content(two),
        "timestamped": pki.sign(base, pki.tolvan, pki.tolvan_key, "Signature1", timestamp=True),
        "long_term": pki.sign(
            base, pki.tolvan, pki.tolvan_key, "Signature1", timestamp=True, lt=True
        ),
        "archival": pki.sign(
            base, pki.tolvan, pki.tolvan_key, "Signature1", timestamp=True, lt=True, lta=True
        ),
        "adobe_pkcs7": pki.sign(
            base,
            pki.tolvan,
            pki.tolvan_key,
            "Signature1",
            subfilter=SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
        ),
        "revoked": with_revoking_dss(
            pki, pki.sign(base, pki.revoked, pki.revoked_key, "Signature1")
        ),
    }
    manifest = {}
    for name, pdf in fixtures.items():
        (out_dir / f"{name}.pdf").write_bytes(pdf)
        manifest[name] = pyhanko_verdicts(pki, pdf)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
