//! Native TLS: building the one rustls `ServerConfig` every shard shares from the
//! `security.transport.tls.*` keys, and naming the client certificate a connection proved.
//!
//! The config is built once in `Server::start`, so every mistake in a PEM file stops the
//! process before it listens (spec decision 17), with an error naming the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_rustls::rustls::server::WebPkiClientVerifier;
use futures_rustls::rustls::server::danger::ClientCertVerifier;
use futures_rustls::rustls::{self, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::{ClientAuthMode, TlsConfig};

/// The only application protocol we speak over TLS. We do not speak h2, so we must not
/// advertise it: a browser that negotiated h2 would send frames we cannot read.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Why the TLS configuration could not be built. Each message names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A path key is unset (validation normally catches this first).
    #[error("{key} must be provided when TLS is enabled")]
    MissingPath { key: &'static str },
    /// A file could not be read at all.
    #[error("failed to read {what} at {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A PEM section is broken (bad base64, missing END line).
    #[error("invalid PEM in {}: {source}", path.display())]
    Pem {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate file holds no `CERTIFICATE` section.
    #[error("no certificates were found in {}", path.display())]
    NoCertificates { path: PathBuf },
    /// The key file holds no PKCS#8, PKCS#1 or SEC1 key.
    #[error("no supported private key (pkcs8/pkcs1/sec1) was found in {}", path.display())]
    NoPrivateKey { path: PathBuf },
    /// rustls refused the chain and key together (mismatch, unsupported key type).
    #[error("invalid TLS certificate/private key pair ({} and {}): {source}", cert.display(), key.display())]
    KeyPair {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    /// A certificate of the client CA bundle is not a usable trust anchor.
    #[error("invalid client CA certificate in {}: {source}", path.display())]
    ClientCa {
        path: PathBuf,
        source: rustls::Error,
    },
    /// The client-certificate verifier could not be built from the bundle.
    #[error("cannot verify client certificates against {}: {source}", path.display())]
    ClientVerifier {
        path: PathBuf,
        source: rustls::server::VerifierBuilderError,
    },
    /// rustls refused the provider's protocol versions or its ticket key (should not happen).
    #[error("TLS protocol setup failed: {0}")]
    Protocol(rustls::Error),
}

/// Builds the shared server config from `security.transport.tls`; `None` when TLS is off.
pub fn server_config(tls: &TlsConfig) -> Result<Option<Arc<ServerConfig>>, TlsSetupError> {
    if !tls.enabled {
        return Ok(None);
    }
    let cert_path = path_of(
        "security.transport.tls.certificate_path",
        &tls.certificate_path,
    )?;
    let key_path = path_of(
        "security.transport.tls.private_key_path",
        &tls.private_key_path,
    )?;
    let chain = load_certificates(&cert_path, "TLS certificate chain")?;
    let key = load_private_key(&key_path)?;

    // The ring provider, named explicitly: nothing then depends on a process-wide default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Protocol)?;
    let builder = match client_verifier(tls, provider)? {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config =
        builder
            .with_single_cert(chain, key)
            .map_err(|source| TlsSetupError::KeyPair {
                cert: cert_path,
                key: key_path,
                source,
            })?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    // Resumption (a client reconnecting after a network blip skips the full handshake) with
    // stateless tickets only: rustls's default session cache is one mutex every shard would
    // share and fill; a ticket keeps the state with the client. One ticket per connection is
    // enough for a client that reconnects once.
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsSetupError::Protocol)?;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 1;
    Ok(Some(Arc::new(config)))
}

/// The client-certificate verifier `client_auth` asks for, against `client_ca_cert_path`.
fn client_verifier(
    tls: &TlsConfig,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsSetupError> {
    if tls.client_auth == ClientAuthMode::None {
        return Ok(None);
    }
    let ca_path = path_of(
        "security.transport.tls.client_ca_cert_path",
        &tls.client_ca_cert_path,
    )?;
    let mut roots = RootCertStore::empty();
    for cert in load_certificates(&ca_path, "client CA bundle")? {
        roots.add(cert).map_err(|source| TlsSetupError::ClientCa {
            path: ca_path.clone(),
            source,
        })?;
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if tls.client_auth == ClientAuthMode::Optional {
        // A client without a certificate is admitted; one that presents a certificate must
        // still present a valid one.
        builder = builder.allow_unauthenticated();
    }
    let verifier = builder
        .build()
        .map_err(|source| TlsSetupError::ClientVerifier {
            path: ca_path,
            source,
        })?;
    Ok(Some(verifier))
}

/// A path key's trimmed value (validation trims too).
fn path_of(key: &'static str, value: &Option<String>) -> Result<PathBuf, TlsSetupError> {
    match value.as_deref().map(str::trim) {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err(TlsSetupError::MissingPath { key }),
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Every `CERTIFICATE` section of a PEM file, in order; an error if there is none.
fn load_certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsSetupError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificates {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first PKCS#8, PKCS#1 or SEC1 key of a PEM file.
fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let pem = read(path, "TLS private key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => TlsSetupError::NoPrivateKey {
            path: path.to_owned(),
        },
        source => TlsSetupError::Pem {
            path: path.to_owned(),
            source,
        },
    })
}

/// The SHA-256 fingerprint of a certificate's DER bytes, as 64 lower-case hex digits: the form
/// token binding compares and the README documents.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_lower_hex_sha256_of_the_der() {
        // SHA-256 of the empty input.
        let empty = CertificateDer::from(Vec::new());
        assert_eq!(
            fingerprint(&empty),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn disabled_builds_nothing() {
        assert!(server_config(&TlsConfig::default()).unwrap().is_none());
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = std::env::temp_dir().join(format!("sf-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let missing = dir.join("missing.pem");
        let mut tls = TlsConfig {
            enabled: true,
            certificate_path: Some(garbage.display().to_string()),
            private_key_path: Some(garbage.display().to_string()),
            ..TlsConfig::default()
        };
        let err = server_config(&tls).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("no certificates were found in {}", garbage.display())
        );
        tls.certificate_path = Some(missing.display().to_string());
        let err = server_config(&tls).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "failed to read TLS certificate chain at {}",
                missing.display()
            )),
            "{err}"
        );
        let bad_pem = dir.join("bad.pem");
        std::fs::write(
            &bad_pem,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        tls.certificate_path = Some(bad_pem.display().to_string());
        let err = server_config(&tls).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("invalid PEM in {}", bad_pem.display())),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
