//! DKIM key records (RFC 6376 3.6.1): `SELECTOR._domainkey.DOMAIN` from a PEM key, RSA of 2048
//! bits or more (RFC 8301) or Ed25519 (RFC 8463). Only the public half ever reaches the output.

use base64ct::{Base64, Encoding};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use pkcs1::{RsaPrivateKey, RsaPublicKey};
use pkcs8::PrivateKeyInfoRef;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use mxray_core::DomainName;

use crate::{DnsRecord, Generated, RecordsError, check};

/// RFC 8017's rsaEncryption: the algorithm of RSA keys in SPKI and PKCS#8.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// RFC 8410's id-Ed25519.
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// Under 2048 bits is refused: RFC 8301 deprecates 1024 and large receivers are dropping it,
/// so a new record should not start there.
pub const MIN_RSA_BITS: usize = 2048;
/// RFC 8301 3.2: verifiers must handle keys up to 4096 bits; larger ones may not verify.
const MAX_VERIFIED_RSA_BITS: usize = 4096;

/// A public key as DKIM publishes it.
enum PublicKey {
    /// The SubjectPublicKeyInfo DER (what `p=` carries for k=rsa) and the modulus size.
    Rsa { spki: Vec<u8>, bits: usize },
    /// The raw 32-byte key (RFC 8463 4.2: not wrapped in SPKI).
    Ed25519([u8; 32]),
}

/// `SELECTOR._domainkey.DOMAIN TXT "v=DKIM1; k=rsa; p=..."` from a PEM public key (`PUBLIC
/// KEY`, `RSA PUBLIC KEY`) or private key (`PRIVATE KEY`, `RSA PRIVATE KEY`), whose public
/// half is derived and the rest forgotten.
pub fn dkim(domain: &DomainName, selector: &str, key_pem: &str) -> Result<Generated, RecordsError> {
    let selector = check::selector(selector)?;
    let name = check::name(&[&selector, "_domainkey", domain])?;
    let (label, der) = read_pem(key_pem)?;
    let key = public_key(&label, &der)?;
    let (value, desc) = match &key {
        PublicKey::Rsa { spki, bits } => (
            format!("v=DKIM1; k=rsa; p={}", Base64::encode_string(spki)),
            format!("RSA {bits}-bit"),
        ),
        PublicKey::Ed25519(raw) => (
            format!("v=DKIM1; k=ed25519; p={}", Base64::encode_string(raw)),
            "Ed25519".to_string(),
        ),
    };
    let record = DnsRecord::txt(&name, value);
    let mut notes = vec![format!(
        "The {desc} public key for selector {selector}: publish it before any mail is signed with s={selector}, or those signatures fail (no key)."
    )];
    if label.contains("PRIVATE") {
        notes.push("The key given was a private key: only its public half is in the record. Keep the private key on the signing server alone.".to_string());
    }
    let parts = record.strings().len();
    if parts > 1 {
        notes.push(format!(
            "The value is {} bytes, more than one 255-byte DNS string: the zone line splits it into {parts} strings, which receivers join. A DNS provider's web form usually takes the whole value and splits it itself; dig TXT {name} should show it whole after publishing.",
            record.value.len()
        ));
    }
    match key {
        PublicKey::Rsa { bits, .. } if bits > MAX_VERIFIED_RSA_BITS => notes.push(format!(
            "RFC 8301 has verifiers handle keys up to {MAX_VERIFIED_RSA_BITS} bits: some may not verify a {bits}-bit key."
        )),
        PublicKey::Ed25519(_) => notes.push("Not every receiver verifies Ed25519 signatures yet (RFC 8463): sign with an RSA key too, under another selector, so that every receiver finds one it can check.".to_string()),
        PublicKey::Rsa { .. } => {}
    }
    Ok(Generated {
        records: vec![record],
        files: Vec::new(),
        notes,
    })
}

/// The first key block of PEM text: its label and DER. Read leniently (indentation, CRLF,
/// any line width, text around the block) since keys are pasted from many places.
fn read_pem(text: &str) -> Result<(String, Vec<u8>), RecordsError> {
    let mut lines = text.lines().map(str::trim);
    let mut first_label: Option<String> = None;
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut ended = false;
        let mut encrypted = false;
        for l in lines.by_ref() {
            if l == end {
                ended = true;
                break;
            }
            // RFC 1421 headers: only encrypted legacy keys carry them (Proc-Type: 4,ENCRYPTED).
            if let Some((k, v)) = l.split_once(':') {
                encrypted |= k.eq_ignore_ascii_case("Proc-Type") && v.contains("ENCRYPTED");
                continue;
            }
            body.push_str(l);
        }
        if !ended {
            return Err(RecordsError::Pem {
                why: format!("no {end} line closes the key"),
            });
        }
        if encrypted || label.contains("ENCRYPTED") {
            return Err(RecordsError::EncryptedKey {
                label: label.to_string(),
            });
        }
        if !KNOWN_LABELS.contains(&label) {
            // Skip what may precede the key (openssl's EC PARAMETERS, a certificate).
            first_label.get_or_insert_with(|| label.to_string());
            continue;
        }
        let der = Base64::decode_vec(&body).map_err(|_| RecordsError::Pem {
            why: format!("the text between BEGIN {label} and END is not base64"),
        })?;
        if der.is_empty() {
            return Err(RecordsError::Pem {
                why: format!("the {label} block is empty"),
            });
        }
        return Ok((label.to_string(), der));
    }
    match first_label {
        Some(label) if label.starts_with("EC ") => Err(RecordsError::KeyAlgorithm {
            algorithm: "an EC (ECDSA) key".to_string(),
        }),
        Some(label) => Err(RecordsError::PemLabel { label }),
        None => Err(RecordsError::Pem {
            why: "there is no -----BEGIN line".to_string(),
        }),
    }
}

/// The PEM labels holding a key this module reads (RFC 7468 5, 10, 11; PKCS#1's own).
const KNOWN_LABELS: &[&str] = &[
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
];

/// The public key in `der`, read as `label` says.
fn public_key(label: &str, der: &[u8]) -> Result<PublicKey, RecordsError> {
    let bad = |e: der::Error| RecordsError::Key {
        label: label.to_string(),
        why: e.to_string(),
    };
    match label {
        "PUBLIC KEY" => {
            let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(bad)?;
            let raw = spki.subject_public_key.raw_bytes();
            match spki.algorithm.oid {
                RSA_ENCRYPTION => rsa(RsaPublicKey::from_der(raw).map_err(bad)?),
                ED25519 => ed25519(label, raw),
                oid => Err(RecordsError::KeyAlgorithm {
                    algorithm: algorithm_name(oid),
                }),
            }
        }
        "RSA PUBLIC KEY" => rsa(RsaPublicKey::from_der(der).map_err(bad)?),
        "PRIVATE KEY" => {
            let info = PrivateKeyInfoRef::from_der(der).map_err(bad)?;
            let private = info.private_key.as_bytes();
            match info.algorithm.oid {
                RSA_ENCRYPTION => {
                    let k: RsaPrivateKey<der::asn1::UintRef<'_>> =
                        RsaPrivateKey::from_der(private).map_err(bad)?;
                    rsa(k.public_key())
                }
                ED25519 => {
                    // RFC 8410 7: the private key is an OCTET STRING inside the OCTET STRING.
                    let seed = <&OctetStringRef>::from_der(private).map_err(bad)?;
                    let derived = ed25519_public(label, seed.as_bytes())?;
                    // A PKCS#8 v2 key also carries its public key: it must be the same one.
                    if let Some(stored) = info.public_key
                        && stored.raw_bytes() != derived.as_slice()
                    {
                        return Err(RecordsError::Key {
                            label: label.to_string(),
                            why: "its stored public key does not belong to its private key"
                                .to_string(),
                        });
                    }
                    Ok(PublicKey::Ed25519(derived))
                }
                oid => Err(RecordsError::KeyAlgorithm {
                    algorithm: algorithm_name(oid),
                }),
            }
        }
        "RSA PRIVATE KEY" => {
            let k: RsaPrivateKey<der::asn1::UintRef<'_>> =
                RsaPrivateKey::from_der(der).map_err(bad)?;
            rsa(k.public_key())
        }
        other => Err(RecordsError::PemLabel {
            label: other.to_string(),
        }),
    }
}

/// An RSA public key checked for size and re-encoded as SubjectPublicKeyInfo, the form DKIM
/// signers and verifiers expect in `p=` whatever form the key came in.
fn rsa(k: RsaPublicKey<der::asn1::UintRef<'_>>) -> Result<PublicKey, RecordsError> {
    let label = "RSA";
    let bad = |e: der::Error| RecordsError::Key {
        label: label.to_string(),
        why: e.to_string(),
    };
    // UintRef keeps the integer without leading zero bytes.
    let n = k.modulus.as_bytes();
    let bits = match n.first() {
        Some(lead) => n.len() * 8 - lead.leading_zeros() as usize,
        None => 0,
    };
    if bits < MIN_RSA_BITS {
        return Err(RecordsError::WeakKey { bits });
    }
    let pkcs1 = k.to_der().map_err(bad)?;
    let spki = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: RSA_ENCRYPTION,
            // RFC 3279 2.3.1: rsaEncryption's parameters are NULL, present.
            parameters: Some(AnyRef::NULL),
        },
        subject_public_key: BitStringRef::from_bytes(&pkcs1).map_err(bad)?,
    };
    Ok(PublicKey::Rsa {
        spki: spki.to_der().map_err(bad)?,
        bits,
    })
}

/// A raw Ed25519 public key: exactly 32 bytes.
fn ed25519(label: &str, raw: &[u8]) -> Result<PublicKey, RecordsError> {
    let key: [u8; 32] = raw.try_into().map_err(|_| RecordsError::Key {
        label: label.to_string(),
        why: format!("an Ed25519 public key is 32 bytes, not {}", raw.len()),
    })?;
    Ok(PublicKey::Ed25519(key))
}

/// The public key of an Ed25519 private key (its 32-byte seed).
fn ed25519_public(label: &str, seed: &[u8]) -> Result<[u8; 32], RecordsError> {
    let bad = |why: String| RecordsError::Key {
        label: label.to_string(),
        why,
    };
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
        .map_err(|e| bad(format!("the Ed25519 private key is unusable ({e})")))?;
    let public = ring::signature::KeyPair::public_key(&pair).as_ref();
    public
        .try_into()
        .map_err(|_| bad(format!("the derived public key is {} bytes", public.len())))
}

/// A readable name for a key algorithm DKIM does not use.
fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.10045.2.1" => "an EC (ECDSA) key".to_string(),
        "1.2.840.113549.1.1.10" => {
            "an RSASSA-PSS key (DKIM's k=rsa needs rsaEncryption)".to_string()
        }
        "1.3.101.113" => "an Ed448 key".to_string(),
        "1.3.101.110" | "1.3.101.111" => {
            "an X25519/X448 key (for key agreement, not signing)".to_string()
        }
        "1.2.840.10040.4.1" => "a DSA key".to_string(),
        other => format!("a key of algorithm {other}"),
    }
}

#[cfg(test)]
mod tests {
    use mxray_core::dns::{DnsAnswer, DnsOutcome, DnsRecord as Rec, RType};
    use mxray_core::{Finding, Severity};
    use mxray_diagnose::Areas;
    use mxray_diagnose::sender::SenderObs;
    use mxray_diagnose::sender::dkim::{DkimObs, findings, rsa_bits};
    use mxray_diagnose::sender::tags::{tag, tags};

    use super::*;

    // Test-only keys (tests/data/README.md): never used for a real domain.
    const RSA_PKCS8: &str = include_str!("../tests/data/rsa2048.pkcs8.pem");
    const RSA_PKCS1: &str = include_str!("../tests/data/rsa2048.pkcs1.pem");
    const RSA_PUB: &str = include_str!("../tests/data/rsa2048.pub.pem");
    const RSA_PKCS1_PUB: &str = include_str!("../tests/data/rsa2048.pkcs1.pub.pem");
    const RSA_1024: &str = include_str!("../tests/data/rsa1024.pub.pem");
    const RSA_4096: &str = include_str!("../tests/data/rsa4096.pub.pem");
    const ED_PRIVATE: &str = include_str!("../tests/data/ed25519.pem");
    const ED_PUBLIC: &str = include_str!("../tests/data/ed25519.pub.pem");
    const P256: &str = include_str!("../tests/data/p256.pub.pem");

    fn domain() -> DomainName {
        DomainName::parse("example.com").unwrap()
    }

    fn gen_ok(pem: &str) -> Generated {
        dkim(&domain(), "s2025", pem).unwrap()
    }

    /// The p= of a record, decoded.
    fn p(g: &Generated) -> Vec<u8> {
        let t = tags(&g.records[0].value).unwrap();
        Base64::decode_vec(tag(&t, "p").unwrap()).unwrap()
    }

    /// The DER of the first PEM block, decoded independently of `read_pem`.
    fn pem_der(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        Base64::decode_vec(&body).unwrap()
    }

    /// Diagnose's DKIM judge over a record, as if DNS served it at the given selector.
    fn judge(r: &DnsRecord) -> Vec<Finding> {
        let mut s = SenderObs::new("example.com", Areas::all());
        s.dkim = vec![DkimObs {
            selector: "s2025".into(),
            given: true,
            answer: DnsAnswer {
                name: r.name.clone(),
                rtype: RType::Txt,
                outcome: DnsOutcome::Answer,
                // DNS hands back the strings joined: the judge reads the whole value.
                records: vec![Rec::Txt {
                    owner: r.name.clone(),
                    text: r.strings().concat(),
                }],
                elapsed_ms: 1,
            },
        }];
        findings(&s)
    }

    #[test]
    fn every_rsa_form_gives_the_same_public_record() {
        let want = gen_ok(RSA_PUB);
        let r = &want.records[0];
        assert_eq!(r.name, "s2025._domainkey.example.com");
        assert!(
            r.value.starts_with("v=DKIM1; k=rsa; p=MIIBIjAN"),
            "{}",
            r.value
        );
        // p= is the SPKI exactly as openssl wrote the public key.
        assert_eq!(p(&want), pem_der(RSA_PUB));
        assert_eq!(rsa_bits(&p(&want)), Some(2048));
        for pem in [RSA_PKCS8, RSA_PKCS1, RSA_PKCS1_PUB] {
            assert_eq!(gen_ok(pem).records, want.records);
        }
        let f = judge(r);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].id, "dkim.ok");
        assert!(f[0].title.contains("RSA 2048 bits"), "{}", f[0].title);
    }

    #[test]
    fn long_rsa_values_are_split_in_the_zone_line() {
        let g = gen_ok(RSA_PUB);
        let r = &g.records[0];
        assert!(r.value.len() > 255);
        assert_eq!(r.strings().len(), 2);
        let line = r.zone_line(3600);
        assert!(line.starts_with("s2025._domainkey.example.com. 3600 IN TXT \"v=DKIM1; k=rsa; p="));
        assert_eq!(line.matches("\" \"").count(), 1, "{line}");
        assert!(
            g.notes.iter().any(|n| n.contains("2 strings")),
            "{:?}",
            g.notes
        );
        let big = gen_ok(RSA_4096);
        assert_eq!(big.records[0].strings().len(), 3);
        assert_eq!(rsa_bits(&p(&big)), Some(4096));
        assert_eq!(judge(&big.records[0])[0].id, "dkim.ok");
    }

    #[test]
    fn private_keys_leave_no_private_material() {
        for pem in [RSA_PKCS8, RSA_PKCS1, ED_PRIVATE] {
            let g = gen_ok(pem);
            assert!(g.notes.iter().any(|n| n.contains("only its public half")));
            let all = format!("{g:?}");
            assert!(!all.contains("PRIVATE KEY"), "{all}");
        }
        // For RSA, p= is exactly the public key, and the private exponent is nowhere in it.
        let p8 = pem_der(RSA_PKCS8);
        let info = PrivateKeyInfoRef::from_der(&p8).unwrap();
        let k: RsaPrivateKey<der::asn1::UintRef<'_>> =
            RsaPrivateKey::from_der(info.private_key.as_bytes()).unwrap();
        let d = k.private_exponent.as_bytes();
        assert!(d.len() > 200);
        for pem in [RSA_PKCS8, RSA_PKCS1] {
            let p = p(&gen_ok(pem));
            assert_eq!(p, pem_der(RSA_PUB));
            assert!(!p.windows(32).any(|w| d.windows(32).any(|x| x == w)));
        }
        // For Ed25519, the seed (the last 32 bytes of the PKCS#8) is not what is published.
        let seed = &pem_der(ED_PRIVATE)[16..];
        assert_eq!(seed.len(), 32);
        assert_ne!(p(&gen_ok(ED_PRIVATE)), seed);
    }

    #[test]
    fn ed25519_keys_publish_the_raw_32_bytes() {
        let public = gen_ok(ED_PUBLIC);
        let r = &public.records[0];
        assert!(r.value.starts_with("v=DKIM1; k=ed25519; p="), "{}", r.value);
        let raw = p(&public);
        assert_eq!(raw.len(), 32);
        // The SPKI of an Ed25519 key ends with the raw key (RFC 8410 4).
        assert!(pem_der(ED_PUBLIC).ends_with(&raw));
        // Derived from the private key, the same key comes out.
        assert_eq!(gen_ok(ED_PRIVATE).records, public.records);
        assert!(public.notes.iter().any(|n| n.contains("RSA key too")));
        let f = judge(r);
        assert_eq!((f[0].id, f[0].severity), ("dkim.ok", Severity::Pass));
        assert!(f[0].title.contains("Ed25519"), "{}", f[0].title);
    }

    #[test]
    fn pasted_pem_is_read_leniently() {
        let indented: String = RSA_PUB.lines().map(|l| format!("    {l}\r\n")).collect();
        let wrapped = format!("Here is my key:\n{indented}\nthanks\n");
        assert_eq!(gen_ok(&wrapped).records, gen_ok(RSA_PUB).records);
        let joined: String = RSA_PUB
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let one_line = format!("-----BEGIN PUBLIC KEY-----\n{joined}\n-----END PUBLIC KEY-----\n");
        assert_eq!(gen_ok(&one_line).records, gen_ok(RSA_PUB).records);
        // A key after a block mxray does not read is found.
        let after = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{ED_PUBLIC}"
        );
        assert!(dkim(&domain(), "s1", &after).is_ok());
    }

    #[test]
    fn weak_odd_and_broken_keys_are_refused() {
        let d = domain();
        let run = |pem: &str| dkim(&d, "s2025", pem);
        assert_eq!(run(RSA_1024), Err(RecordsError::WeakKey { bits: 1024 }));
        let e = run(RSA_1024).map(|_| ()).unwrap_err().to_string();
        assert!(
            e.contains("1024 bits") && e.contains("deprecates 1024"),
            "{e}"
        );
        assert!(matches!(run(P256), Err(RecordsError::KeyAlgorithm { .. })));
        assert!(
            run(P256)
                .map(|_| ())
                .unwrap_err()
                .to_string()
                .contains("ECDSA")
        );
        assert!(matches!(
            run("not a key at all"),
            Err(RecordsError::Pem { .. })
        ));
        assert!(matches!(run(""), Err(RecordsError::Pem { .. })));
        assert!(matches!(
            run("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"),
            Err(RecordsError::Pem { .. })
        ));
        assert!(matches!(
            run("-----BEGIN PUBLIC KEY-----\nTUlJQklq\n"),
            Err(RecordsError::Pem { .. })
        ));
        // Base64 that is not DER.
        assert!(matches!(
            run("-----BEGIN PUBLIC KEY-----\naGVsbG8gd29ybGQ=\n-----END PUBLIC KEY-----\n"),
            Err(RecordsError::Key { .. })
        ));
        // The right DER under the wrong label.
        let swapped = RSA_PUB.replace("PUBLIC KEY", "RSA PRIVATE KEY");
        assert!(matches!(run(&swapped), Err(RecordsError::Key { .. })));
        assert!(matches!(
            run(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"
            ),
            Err(RecordsError::EncryptedKey { .. })
        ));
        let legacy = RSA_PKCS1.replacen(
            "-----BEGIN RSA PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n",
            1,
        );
        assert!(matches!(
            run(&legacy),
            Err(RecordsError::EncryptedKey { .. })
        ));
        assert!(matches!(
            run("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            Err(RecordsError::PemLabel { .. })
        ));
        assert!(matches!(
            dkim(&d, "bad selector", RSA_PUB),
            Err(RecordsError::Selector { .. })
        ));
    }
}
