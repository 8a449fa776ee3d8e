//! The lab CA (made fresh at every start with rcgen) and the server certificates it signs:
//! valid, expired, self-signed and wrong-name, turned into rustls server configs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration as TimeDelta, OffsetDateTime};

use crate::LabError;
use crate::scenario::TlsMode;

/// Name in the certificate a `wrong-name` host presents.
pub const WRONG_NAME: &str = "wrong-name.lab.test";

/// The lab's certificate authority. Clients that should trust the lab load `pem`.
pub struct LabCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
    /// SHA-256 of the CA's SubjectPublicKeyInfo: what a `2 1 1` TLSA record names.
    spki_sha256: Vec<u8>,
}

/// SHA-256 of a key's SubjectPublicKeyInfo (DER): the data of a `x 1 1` TLSA record.
fn spki_sha256(key: &KeyPair) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info())
        .as_ref()
        .to_vec()
}

impl LabCa {
    pub fn new() -> Result<LabCa, LabError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "mxray lab CA");
        dn.push(DnType::OrganizationName, "mxray lab");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - TimeDelta::days(2);
        params.not_after = now + TimeDelta::days(3650);
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.self_signed(&key).map_err(tls_err)?;
        Ok(LabCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            spki_sha256: spki_sha256(&key),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// SHA-256 of the CA's public key (`2 1 1` TLSA data).
    pub fn spki_sha256(&self) -> &[u8] {
        &self.spki_sha256
    }

    /// The CA certificate, DER (for a rustls root store).
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// A leaf for `names` (and `ips`), signed by the CA unless `self_signed`.
    fn leaf(
        &self,
        names: &[String],
        ips: &[IpAddr],
        validity: Validity,
        self_signed: bool,
    ) -> Result<Leaf, LabError> {
        let mut params = CertificateParams::new(names.to_vec()).map_err(tls_err)?;
        for ip in ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_else(|| "lab".into()),
        );
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        let (from, until) = match validity {
            Validity::Current => (-1, 365),
            Validity::Expired => (-60, -1),
            Validity::Expiring => (-80, EXPIRING_DAYS),
        };
        params.not_before = now + TimeDelta::days(from);
        params.not_after = now + TimeDelta::days(until);
        let key = KeyPair::generate().map_err(tls_err)?;
        let digest = spki_sha256(&key);
        let cert = if self_signed {
            params.self_signed(&key).map_err(tls_err)?
        } else {
            params.signed_by(&key, &self.issuer).map_err(tls_err)?
        };
        let mut chain = vec![cert.der().clone()];
        if !self_signed {
            chain.push(self.der.clone());
        }
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((chain, key, digest))
    }

    /// A rustls server config presenting the certificate `mode` calls for, with the SHA-256
    /// of its key, or `None` when the mode involves no real handshake (`broken`, `none`).
    pub fn server_config(
        &self,
        mode: TlsMode,
        host: &str,
        ip: IpAddr,
    ) -> Result<Option<Presented>, LabError> {
        let names = vec![host.to_owned()];
        let (chain, key, digest) = match mode {
            TlsMode::Valid => self.leaf(&names, &[ip], Validity::Current, false)?,
            TlsMode::Expired => self.leaf(&names, &[ip], Validity::Expired, false)?,
            TlsMode::Expiring => self.leaf(&names, &[ip], Validity::Expiring, false)?,
            TlsMode::SelfSigned => self.leaf(&names, &[ip], Validity::Current, true)?,
            TlsMode::WrongName => {
                self.leaf(&[WRONG_NAME.to_owned()], &[], Validity::Current, false)?
            }
            TlsMode::Broken | TlsMode::None => return Ok(None),
        };
        Ok(Some((config(chain, key)?, digest)))
    }

    /// One certificate naming every `names` entry (the MTA-STS policy hosts).
    pub fn multi_name_config(&self, names: &[String]) -> Result<Arc<ServerConfig>, LabError> {
        let (chain, key, _) = self.leaf(names, &[], Validity::Current, false)?;
        config(chain, key)
    }
}

/// A server config and the SHA-256 of the key of the certificate it presents.
pub type Presented = (Arc<ServerConfig>, Vec<u8>);

/// A leaf certificate chain, its private key, and the SHA-256 of its public key.
type Leaf = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    Vec<u8>,
);

/// Days an `expiring` certificate has left: inside every "expires soon" warning window.
pub const EXPIRING_DAYS: i64 = 5;

/// The validity window of a leaf certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validity {
    /// From yesterday to a year from now.
    Current,
    /// Expired yesterday.
    Expired,
    /// Valid now, expiring in `EXPIRING_DAYS` days.
    Expiring,
}

/// Server configs for every (mode, host) a scenario needs, made once at start.
#[derive(Default)]
pub struct ConfigCache {
    configs: HashMap<(TlsMode, String), Option<Arc<ServerConfig>>>,
    /// Per host, the SHA-256 of the key of the first certificate made for it: what a
    /// scenario's `3 1 1 @leaf(HOST)` TLSA record is expanded to.
    pub leaf_spki: HashMap<String, Vec<u8>>,
}

impl ConfigCache {
    pub fn get(
        &mut self,
        ca: &LabCa,
        mode: TlsMode,
        host: &str,
        ip: IpAddr,
    ) -> Result<Option<Arc<ServerConfig>>, LabError> {
        let key = (mode, host.to_owned());
        if let Some(c) = self.configs.get(&key) {
            return Ok(c.clone());
        }
        let made = ca.server_config(mode, host, ip)?;
        let c = made.map(|(cfg, digest)| {
            self.leaf_spki
                .entry(host.to_ascii_lowercase())
                .or_insert(digest);
            cfg
        });
        self.configs.insert(key, c.clone());
        Ok(c)
    }
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, LabError> {
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_err)?;
    Ok(Arc::new(cfg))
}

fn tls_err(e: impl std::fmt::Display) -> LabError {
    LabError::Tls(e.to_string())
}
