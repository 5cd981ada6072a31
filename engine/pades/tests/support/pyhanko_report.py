"""Validates every signature of a PDF with pyHanko and prints the verdicts as JSON.

usage: pyhanko_report.py FILE.pdf CA.pem [lta]

With `lta`, each signature gets pyHanko's PAdES long-term validation (ETSI EN 319 102-1
§5.6.3, what older pyHanko releases called `--ltv-profile pades-lta`): revocation data is
required for every certificate and may only come from the file itself (nothing is fetched).
"""
import asyncio
import json
import sys

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager

ca = load_cert_from_pemder(sys.argv[2])
lta = len(sys.argv) > 3 and sys.argv[3] == "lta"
context = ValidationContext(trust_roots=[ca], allow_fetching=False, revocation_mode="soft-fail")
lta_spec = PdfSignatureValidationSpec(
    SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=[ca]),
            revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
        ),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
        ),
    )
)

out = []
with open(sys.argv[1], "rb") as f:
    reader = PdfFileReader(f, strict=False)
    for sig in reader.embedded_regular_signatures:
        extra = {}
        if lta:
            result = asyncio.run(ades_lta_validation(sig, lta_spec))
            status = result.api_status
            extra = {
                "ades": result.ades_subindic.name if result.ades_subindic else "OK",
                "evidence_record": result.oldest_evidence_record_timestamp is not None,
            }
        else:
            status = validate_pdf_signature(sig, context)
        ts = status.timestamp_validity
        out.append(
            {
                "field": sig.field_name,
                "intact": bool(status.intact),
                "valid": bool(status.valid),
                "trusted": bool(status.trusted),
                "coverage": status.coverage.name,
                "modification_level": status.modification_level.name if status.modification_level else None,
                "signer": status.signing_cert.subject.human_friendly,
                "timestamp_valid": bool(ts is not None and ts.intact and ts.valid and ts.trusted),
                "bottom_line": bool(status.bottom_line),
                **extra,
            }
        )
print(json.dumps(out))
