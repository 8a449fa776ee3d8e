//! DNSSEC for lab zones: a fresh ECDSA P-256 key per signed zone (one key as KSK and ZSK),
//! NSEC denial and RRSIGs by hickory-server's own zone signer, and the anchors tests trust.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::dnssec::{Algorithm, DigestType, DnssecSigner, SigningKey};
use hickory_proto::rr::{DNSClass, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use serde::Serialize;

use crate::LabError;
use crate::scenario::Dnssec;

/// How long good signatures last: far longer than any lab run.
const SIG_DURATION: Duration = Duration::from_secs(30 * 86400);
/// TTL of the anchors' presentation lines (the zone's own DNSKEY carries the SOA minimum).
const ANCHOR_TTL: u32 = 3600;
/// The one algorithm the lab signs with: ECDSA P-256 with SHA-256 (13), what every
/// validator supports and what most signed zones use.
const ALGORITHM: Algorithm = Algorithm::ECDSAP256SHA256;

/// The trust anchor of one signed zone, in presentation format, for a validating resolver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ZoneAnchor {
    /// The zone apex, without the trailing dot.
    pub zone: String,
    /// The scenario's mode: `signed`, `expired` or `wrong-key`.
    pub mode: String,
    /// The DS record (digest type 2, SHA-256), e.g. `signed.test. 3600 IN DS 12345 13 2 AB...`.
    /// For `wrong-key` it names a key the zone does not publish, so validation fails.
    pub ds: String,
    /// The DNSKEY record the DS matches, e.g. `signed.test. 3600 IN DNSKEY 257 3 13 base64...`.
    pub dnskey: String,
}

fn err(what: &str, e: impl std::fmt::Display) -> LabError {
    LabError::Dns(format!("DNSSEC {what}: {e}"))
}

/// A fresh key and its DNSKEY (flags 257: zone key and secure entry point).
fn new_key() -> Result<(EcdsaSigningKey, Vec<u8>, DNSKEY), LabError> {
    let pkcs8 = EcdsaSigningKey::generate_pkcs8(ALGORITHM).map_err(|e| err("key generation", e))?;
    let key = EcdsaSigningKey::from_pkcs8(&pkcs8, ALGORITHM).map_err(|e| err("key", e))?;
    let public = key.to_public_key().map_err(|e| err("public key", e))?;
    let dnskey = DNSKEY::from_key(&public);
    Ok((key, pkcs8.secret_pkcs8_der().to_vec(), dnskey))
}

/// Signs `zone` (whose records are all in place) as `mode` asks and returns its anchor.
///
/// hickory-server's `secure_zone_mut` signs the zone as the lab already builds it (one
/// `InMemoryZoneHandler` per zone, NSEC included), so only the expired mode re-signs by hand:
/// hickory always signs from "now".
pub fn sign(
    zone: &mut InMemoryZoneHandler,
    origin: &Name,
    mode: Dnssec,
) -> Result<ZoneAnchor, LabError> {
    let (key, pkcs8, dnskey) = new_key()?;
    let signer = DnssecSigner::new(dnskey.clone(), Box::new(key), origin.clone(), SIG_DURATION);
    zone.add_zone_signing_key_mut(signer)
        .map_err(|e| err("adding the key", e))?;
    zone.secure_zone_mut().map_err(|e| err("signing", e))?;

    if mode == Dnssec::Expired {
        // Valid from three days ago until yesterday: well past any validator's clock skew.
        let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8);
        let again = EcdsaSigningKey::from_pkcs8(&pkcs8, ALGORITHM).map_err(|e| err("key", e))?;
        let past = DnssecSigner::new(
            dnskey.clone(),
            Box::new(again),
            origin.clone(),
            Duration::from_secs(2 * 86400),
        );
        let inception = time::OffsetDateTime::now_utc() - time::Duration::days(3);
        for rrset in zone.records_get_mut().values_mut() {
            let rrset = Arc::make_mut(rrset);
            rrset.clear_rrsigs();
            let rrsig = RRSIG::from_rrset(rrset, DNSClass::IN, inception, &past)
                .map_err(|e| err("re-signing", e))?;
            let record = Record::from_rdata(
                rrset.name().clone(),
                rrset.ttl(),
                RData::DNSSEC(DNSSECRData::RRSIG(rrsig)),
            );
            rrset.insert_rrsig(record);
        }
    }

    // The wrong-key mode publishes an anchor for a key the zone never saw.
    let anchored = if mode == Dnssec::WrongKey {
        new_key()?.2
    } else {
        dnskey
    };
    anchor(origin, mode, &anchored)
}

fn anchor(origin: &Name, mode: Dnssec, dnskey: &DNSKEY) -> Result<ZoneAnchor, LabError> {
    let digest = dnskey
        .to_digest(origin, DigestType::SHA256)
        .map_err(|e| err("DS digest", e))?;
    let tag = dnskey.calculate_key_tag().map_err(|e| err("key tag", e))?;
    let ds = DS::new(tag, ALGORITHM, DigestType::SHA256, digest.as_ref().to_vec());
    let owner = origin.to_ascii();
    Ok(ZoneAnchor {
        zone: owner.trim_end_matches('.').to_owned(),
        mode: mode.as_str().to_owned(),
        ds: format!("{owner} {ANCHOR_TTL} IN DS {ds}"),
        dnskey: format!("{owner} {ANCHOR_TTL} IN DNSKEY {dnskey}"),
    })
}
