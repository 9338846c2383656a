//! TLS for the PostgreSQL listener: a certificate chain and private key loaded from PEM files
//! into a rustls server configuration (the `ring` provider, TLS 1.2 and 1.3, ALPN
//! `postgresql`), handed to pgwire, which answers SSLRequest with `S` and runs the handshake
//! (and accepts PostgreSQL 17's direct TLS). Without it SSLRequest is answered `N` and the
//! client goes on in plaintext (or gives up, with `sslmode=require`).
//!
//! Owns: reading and checking the files (every error names the file) and the certificate's
//! PEM that SCRAM-SHA-256-PLUS channel binding is computed from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pgwire::tokio::tokio_rustls::rustls;
use pgwire::tokio::TlsAcceptor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate or key that cannot serve TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} file {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS certificate file {}: {why}", path.display())]
    Cert { path: PathBuf, why: String },
    #[error("TLS key file {}: {why}", path.display())]
    Key { path: PathBuf, why: String },
    #[error("TLS certificate {} and key {} cannot be used together: {source}", cert.display(), key.display())]
    Config {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// A loaded certificate and key, ready to accept TLS connections.
pub struct Tls {
    acceptor: TlsAcceptor,
    /// The server certificate alone, re-encoded as plain PEM.
    leaf_pem: Vec<u8>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads a PEM certificate chain (server certificate first) and a PEM private key (PKCS#8,
    /// PKCS#1 RSA or SEC1 EC) and checks that they belong together.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read("certificate", cert)?;
        let key_pem = read("key", key)?;
        Tls::from_pem(&cert_pem, &key_pem, cert, key)
    }

    /// As [`Tls::load`], from the files' contents (`cert`, `key`: their names for errors).
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert: &Path,
        key: &Path,
    ) -> Result<Tls, TlsError> {
        let cert_err = |why: String| TlsError::Cert {
            path: cert.to_path_buf(),
            why,
        };
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cert_err(format!("not a PEM certificate: {e}")))?;
        let Some(leaf) = chain.first() else {
            return Err(cert_err(
                "no certificate in it (expected a PEM \"BEGIN CERTIFICATE\" block)".into(),
            ));
        };
        let leaf_pem = pem_certificate(leaf);
        let private_key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key {
            path: key.to_path_buf(),
            why: match e {
                rustls::pki_types::pem::Error::NoItemsFound => "no private key in it (expected a PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block)".into(),
                other => format!("not a PEM private key: {other}"),
            },
        })?;
        let config_err = |source| TlsError::Config {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(config_err)?
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .map_err(config_err)?;
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            leaf_pem,
        })
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// The server certificate as PEM (for channel binding).
    pub(crate) fn cert_pem(&self) -> &[u8] {
        &self.leaf_pem
    }
}

/// One certificate as a PEM block with nothing around it (what pgwire's channel binding
/// parses, whatever else the file held).
fn pem_certificate(der: &CertificateDer<'_>) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (c.cert.pem(), c.key_pair.serialize_pem())
    }

    fn load(cert: &str, key: &str) -> Result<Tls, TlsError> {
        Tls::from_pem(
            cert.as_bytes(),
            key.as_bytes(),
            Path::new("c.pem"),
            Path::new("k.pem"),
        )
    }

    #[test]
    fn a_matching_pair_loads_and_mistakes_name_the_file() {
        let (cert, key) = pair();
        let tls = load(&cert, &key).unwrap();
        assert_eq!(
            String::from_utf8_lossy(tls.cert_pem()),
            cert.replace("\r\n", "\n")
        );
        // Certificate and key in one file, given for both: fine too.
        let both = format!("{cert}{key}");
        assert!(load(&both, &both).is_ok());

        let e = load("hello", &key).unwrap_err().to_string();
        assert!(
            e.starts_with("TLS certificate file c.pem: no certificate"),
            "{e}"
        );
        let e = load(&key, &key).unwrap_err().to_string();
        assert!(
            e.starts_with("TLS certificate file c.pem: no certificate"),
            "{e}"
        );
        let e = load(&cert, &cert).unwrap_err().to_string();
        assert!(e.starts_with("TLS key file k.pem: no private key"), "{e}");
        let (_, other_key) = pair();
        let e = load(&cert, &other_key).unwrap_err().to_string();
        assert!(
            e.starts_with("TLS certificate c.pem and key k.pem cannot be used together"),
            "{e}"
        );
        let e = Tls::load(Path::new("/nonexistent/c.pem"), Path::new("k.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot read the TLS certificate file /nonexistent/c.pem"),
            "{e}"
        );
    }
}
