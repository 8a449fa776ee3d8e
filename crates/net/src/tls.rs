//! STARTTLS inspection: run the handshake with a verifier that records its verdict instead of
//! aborting, so a bad certificate is observed (subject, SANs, dates, issuer) rather than hidden.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Trust anchors for certificate verification.
pub struct TlsSettings {
    roots: Arc<RootCertStore>,
    /// The roots as certificates when they came from PEM (`None`: webpki-roots), for a client
    /// that builds its own configuration from certificates (lettre, in `relay`).
    certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
    provider: Arc<CryptoProvider>,
    /// Where the roots came from, for evidence (`webpki-roots`, or the CA file's path).
    pub roots_source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA file {path}: {error}")]
    Read { path: String, error: String },
    #[error("CA file {0} holds no PEM certificate: expected -----BEGIN CERTIFICATE----- blocks")]
    Empty(String),
}

impl TlsSettings {
    /// The Mozilla roots shipped in webpki-roots.
    pub fn web_pki() -> TlsSettings {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        TlsSettings::with_roots(roots, None, "webpki-roots (Mozilla)".into())
    }

    /// Roots from a PEM file (the lab's CA, a private CA).
    pub fn from_ca_file(path: &Path) -> Result<TlsSettings, TlsSetupError> {
        let shown = path.display().to_string();
        let data = std::fs::read(path).map_err(|e| TlsSetupError::Read {
            path: shown.clone(),
            error: e.to_string(),
        })?;
        TlsSettings::from_pem(&data, &shown)
    }

    /// Roots from PEM text already in memory; `source` names it in evidence.
    pub fn from_pem(data: &[u8], source: &str) -> Result<TlsSettings, TlsSetupError> {
        let shown = source.to_string();
        let mut roots = RootCertStore::empty();
        let mut certificates = Vec::new();
        for cert in CertificateDer::pem_slice_iter(data) {
            let cert = cert.map_err(|e| TlsSetupError::Read {
                path: shown.clone(),
                error: e.to_string(),
            })?;
            roots.add(cert.clone()).map_err(|e| TlsSetupError::Read {
                path: shown.clone(),
                error: e.to_string(),
            })?;
            certificates.push(cert);
        }
        if roots.is_empty() {
            return Err(TlsSetupError::Empty(shown));
        }
        Ok(TlsSettings::with_roots(
            roots,
            Some(Arc::new(certificates)),
            shown,
        ))
    }

    fn with_roots(
        roots: RootCertStore,
        certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
        source: String,
    ) -> TlsSettings {
        TlsSettings {
            roots: Arc::new(roots),
            certificates,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            roots_source: source,
        }
    }
}

impl TlsSettings {
    /// The roots as certificates, when they came from PEM; `None` means webpki-roots.
    pub fn root_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.certificates.as_deref().map(Vec::as_slice)
    }

    /// A client configuration that refuses, during the handshake, a certificate these roots
    /// do not accept for the name: for sending secrets, where [`handshake`]'s recording
    /// verifier (which lets an untrusted handshake finish so it can be inspected) must not be.
    pub fn verifying_config(&self) -> Result<ClientConfig, rustls::Error> {
        Ok(ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth())
    }
}

/// One certificate of the chain, as shown to users and judged by checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// DNS names from subjectAltName (and the subject CN when there are none).
    pub names: Vec<String>,
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    pub self_signed: bool,
    /// The DER certificate and its SubjectPublicKeyInfo, which DANE TLSA records match
    /// (RFC 6698 selectors 0 and 1). Not serialised.
    #[serde(skip)]
    pub der: Vec<u8>,
    #[serde(skip)]
    pub spki: Vec<u8>,
}

/// What a STARTTLS handshake showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TlsObservation {
    /// `None` when the handshake completed.
    pub handshake_error: Option<String>,
    pub version: Option<String>,
    pub cipher: Option<String>,
    /// Leaf first.
    pub chain: Vec<CertInfo>,
    /// The trust verdict against the roots: `None` when trusted.
    pub verify_error: Option<String>,
    /// Short reason: `unknown_issuer`, `expired`, `not_valid_yet`, `name_mismatch`, `bad_signature`, `other`.
    pub verify_kind: Option<String>,
    pub roots: String,
    pub elapsed_ms: u64,
}

impl TlsObservation {
    pub fn failed(why: &str) -> TlsObservation {
        TlsObservation {
            handshake_error: Some(why.to_string()),
            version: None,
            cipher: None,
            chain: Vec::new(),
            verify_error: None,
            verify_kind: None,
            roots: String::new(),
            elapsed_ms: 0,
        }
    }
}

/// Runs the client handshake over `stream`. Returns the observation and, if it completed, the
/// encrypted stream.
pub async fn handshake<S>(
    stream: S,
    server_name: &str,
    settings: &TlsSettings,
    timeout: Duration,
) -> (TlsObservation, Option<TlsStream<S>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let verdict = Arc::new(Mutex::new(None));
    let mut obs = TlsObservation::failed("not started");
    obs.roots = settings.roots_source.clone();
    let inner = match WebPkiServerVerifier::builder_with_provider(
        settings.roots.clone(),
        settings.provider.clone(),
    )
    .build()
    {
        Ok(v) => v,
        Err(e) => {
            obs.handshake_error = Some(format!("verifier: {e}"));
            return (obs, None);
        }
    };
    let verifier = Arc::new(RecordingVerifier {
        inner,
        provider: settings.provider.clone(),
        verdict: verdict.clone(),
    });
    let config = match ClientConfig::builder_with_provider(settings.provider.clone())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
        Err(e) => {
            obs.handshake_error = Some(format!("TLS config: {e}"));
            return (obs, None);
        }
    };
    let name = match ServerName::try_from(server_name.trim_end_matches('.').to_string()) {
        Ok(n) => n,
        Err(e) => {
            obs.handshake_error = Some(format!("invalid server name {server_name:?}: {e}"));
            return (obs, None);
        }
    };
    let connector = TlsConnector::from(Arc::new(config));
    let result = tokio::time::timeout(timeout, connector.connect(name, stream)).await;
    obs.elapsed_ms = start.elapsed().as_millis() as u64;
    if let Ok(mut v) = verdict.lock()
        && let Some((err, kind)) = v.take()
    {
        obs.verify_error = Some(err);
        obs.verify_kind = Some(kind);
    }
    match result {
        Err(_) => {
            obs.handshake_error = Some(format!("no handshake within {} ms", timeout.as_millis()));
            (obs, None)
        }
        Ok(Err(e)) => {
            obs.handshake_error = Some(e.to_string());
            (obs, None)
        }
        Ok(Ok(tls)) => {
            let (_, conn) = tls.get_ref();
            obs.handshake_error = None;
            obs.version = conn
                .protocol_version()
                .map(|v| format!("{v:?}").replace('_', "."));
            obs.cipher = conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()));
            obs.chain = conn
                .peer_certificates()
                .map(|certs| certs.iter().filter_map(|c| cert_info(c)).collect())
                .unwrap_or_default();
            (obs, Some(tls))
        }
    }
}

/// Parses the fields checks need; `None` for a certificate x509-parser cannot read.
pub fn cert_info(der: &CertificateDer<'_>) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let mut names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                x509_parser::extensions::GeneralName::DNSName(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect();
    }
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    Some(CertInfo {
        self_signed: subject == issuer,
        subject,
        issuer,
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        der: der.as_ref().to_vec(),
        spki: cert.tbs_certificate.subject_pki.raw.to_vec(),
    })
}

/// Delegates every check to the Web PKI verifier but records its verdict and lets the handshake
/// go on, so an untrusted certificate can still be inspected. Never used to send data.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    verdict: Arc<Mutex<Option<(String, String)>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Err(e) =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            let kind = match &e {
                rustls::Error::InvalidCertificate(c) => match c {
                    CertificateError::UnknownIssuer => "unknown_issuer",
                    CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                        "expired"
                    }
                    CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                        "not_valid_yet"
                    }
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. } => "name_mismatch",
                    CertificateError::BadSignature => "bad_signature",
                    _ => "other",
                },
                _ => "other",
            };
            if let Ok(mut v) = self.verdict.lock() {
                *v = Some((e.to_string(), kind.to_string()));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
