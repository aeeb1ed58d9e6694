//! TLS to the database: rust-postgres' connector traits
//! ([`postgres::tls::MakeTlsConnect`], [`postgres::tls::TlsConnect`]) over
//! tokio-rustls, with rustls on AWS-LC as postie-smtp uses it (one crypto
//! library in the tree).
//!
//! The certificate is always verified: against the system's roots plus the
//! URL's `sslrootcert` (see [`Roots`]), for the host's name, except with
//! `sslmode=verify-ca`, where the chain is checked and the name is not
//! (libpq's meaning). There is no mode that accepts any certificate: a
//! spool's rows hold whole messages and name where passwords come from.
//!
//! A client certificate (`sslcert`, `sslkey`: PEM files, as libpq reads
//! them) is sent when the URL names one; the key file is checked as every
//! file the spool trusts is (this user's, a regular file with one name,
//! never a link, no one else may write it) and, as libpq asks, no one
//! else may read it. An encrypted key (libpq's `sslpassword`) is not
//! read.
//!
//! Channel binding: `tls-server-end-point` (RFC 5929), the hash of the
//! server's certificate, so that SCRAM-SHA-256-PLUS ties the login to this
//! TLS session (a man in the middle holding another certificate cannot
//! relay it). rust-postgres uses it when the server offers it
//! (`channel_binding=prefer`, its default).
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::config::SslMode;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The URL's `sslmode`, as postie reads it (see docs/cli.md, "The
/// PostgreSQL store").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Plain TCP, no TLS asked for.
    Disable,
    /// TLS when the server offers it, with the certificate verified as for
    /// `verify-full` (a certificate that fails is an error, never a reason
    /// to go on in clear); plain when the server offers no TLS. The default,
    /// as libpq's.
    Prefer,
    /// TLS or no connection; the certificate verified for the name, as
    /// `verify-full` (libpq's `require` checks nothing: postie does not
    /// connect with a certificate nobody checked).
    Require,
    /// TLS, the chain verified, the name not.
    VerifyCa,
    /// TLS, the chain verified and the name checked.
    VerifyFull,
}

impl Mode {
    /// The value of an `sslmode` parameter.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            // libpq's `allow` tries plain first: a server that takes plain
            // would never see TLS asked for, so it is refused outright.
            "allow" => {
                return Err("sslmode=allow tries the connection in clear first: \
                     give sslmode=prefer, verify-full or disable"
                    .to_owned())
            }
            other => {
                return Err(format!(
                    "sslmode={other:?} is none of disable, prefer, require, verify-ca, verify-full"
                ))
            }
        })
    }

    /// rust-postgres' mode: whether TLS is asked for and whether it is a
    /// must.
    pub(crate) fn ssl_mode(self) -> SslMode {
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => SslMode::Require,
        }
    }
}

/// Which certificates a server's chain may end in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Roots {
    /// The URL's `sslrootcert` (a PEM file), added to the system's roots;
    /// `sslrootcert=system` is the system's roots alone, as libpq reads it.
    pub(crate) file: Option<PathBuf>,
}

/// A client certificate and its key: the URL's `sslcert` and `sslkey`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientCert {
    /// The certificate chain, PEM, the client's first.
    pub(crate) cert: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: PathBuf,
}

/// The TLS settings of a store URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `sslmode`.
    pub(crate) mode: Mode,
    /// `sslrootcert`.
    pub(crate) roots: Roots,
    /// `sslcert` and `sslkey`.
    pub(crate) client: Option<ClientCert>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Prefer,
            roots: Roots::default(),
            client: None,
        }
    }
}

impl Settings {
    /// The connector for these settings: a rustls configuration made once
    /// per connection (files may change between reconnections).
    pub(crate) fn connector(&self) -> io::Result<MakeRustls> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = (*postie_smtp::tls::system_roots()).clone();
        if let Some(file) = &self.roots.file {
            add_root_file(&mut roots, file)?;
        }
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| io::Error::other(format!("database TLS: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = if self.mode == Mode::VerifyCa {
            Arc::new(ChainOnly { inner })
        } else {
            inner
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| io::Error::other(format!("database TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some(client) => {
                let (chain, key) = client.load()?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| client.setup(&e))?
            }
        };
        Ok(MakeRustls {
            config: Arc::new(config),
        })
    }
}

impl ClientCert {
    /// The chain and the key, read from their files; the key file checked
    /// before it is read (see the module's documentation).
    fn load(&self) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.setup(&format!("sslcert {}: {e}", self.cert.display())))?;
        if chain.is_empty() {
            return Err(self.setup(&format!(
                "sslcert {} holds no certificate",
                self.cert.display()
            )));
        }
        let shown = self.key.display();
        let file = crate::trust::open_read(&self.key)
            .map_err(|e| self.setup(&format!("sslkey {shown}: {e}")))?;
        let mode = file
            .metadata()
            .map_err(|e| self.setup(&format!("sslkey {shown}: {e}")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(self.setup(&format!(
                "sslkey {shown}: others may read it (mode {:o}): chmod 600 it",
                mode & 0o777
            )));
        }
        let key = PrivateKeyDer::from_pem_reader(io::BufReader::new(file))
            .map_err(|e| self.setup(&format!("sslkey {shown}: {e}")))?;
        Ok((chain, key))
    }

    /// An error of the client certificate's setting: the kind the store
    /// gives what a setting fixes (exit 78).
    fn setup(&self, e: &dyn std::fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("cannot use the client certificate: {e}"),
        )
    }
}

/// The certificates of a PEM file added to `roots`; a file holding none is
/// an error (a wrong path would otherwise leave the system's roots only).
fn add_root_file(roots: &mut RootCertStore, file: &Path) -> io::Result<()> {
    let setup = |e: &dyn std::fmt::Display| {
        // PermissionDenied: the kind the store gives what a setting fixes
        // (exit 78), as a refused login.
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("cannot use sslrootcert {}: {e}", file.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| setup(&e))?;
    if certs.is_empty() {
        return Err(setup(&"it holds no certificate"));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| setup(&e))?;
    }
    Ok(())
}

/// `sslmode=verify-ca`: the web PKI check, less its verdict on the name
/// (libpq's meaning; the chain, dates and usage are still checked).
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            // webpki checks the name after the chain, so a name error
            // means the chain was good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// rust-postgres' [`MakeTlsConnect`] over tokio-rustls.
#[derive(Clone)]
pub(crate) struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        // A Unix socket has no name (rust-postgres passes ""): the server
        // answers its TLS request with no (PostgreSQL has no TLS there), and
        // rust-postgres refuses a handshake without a name before asking
        // for one, so no name is needed; `connect` refuses it all the same.
        let name = if domain.is_empty() {
            None
        } else {
            Some(ServerName::try_from(domain.to_owned()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{domain:?} is not a valid name for TLS"),
                )
            })?)
        };
        Ok(RustlsConnect {
            config: Arc::clone(&self.config),
            name,
        })
    }
}

/// One TLS handshake to come, for one server name.
pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
    /// `None`: a Unix socket.
    name: Option<ServerName<'static>>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move {
            let name = self.name.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no host name to check the certificate against",
                )
            })?;
            let stream = connector.connect(name, stream).await?;
            Ok(RustlsStream(Box::new(stream)))
        })
    }
}

/// A TLS session to the database (boxed: a rustls connection is large, and
/// rust-postgres keeps the stream in an enum beside a plain socket).
pub(crate) struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| end_point(cert))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// `tls-server-end-point` (RFC 5929, section 4.1): the certificate hashed
/// with its signature's hash, SHA-256 when that is MD5 or SHA-1. `None`
/// for a signature without one hash of its own (Ed25519, RSA-PSS: the RFC
/// defines nothing, and libpq sends no binding for them either).
fn end_point(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    use aws_lc_rs::digest::{digest, SHA256, SHA384, SHA512};
    use x509_cert::der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert).ok()?;
    let algorithm = match parsed.signature_algorithm().oid.to_string().as_str() {
        // md5, sha1, sha256 WithRSAEncryption; ecdsa-with-SHA1, -SHA256.
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.2" => &SHA256,
        // sha384WithRSAEncryption, ecdsa-with-SHA384.
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => &SHA384,
        // sha512WithRSAEncryption, ecdsa-with-SHA512.
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => &SHA512,
        _ => return None,
    };
    Some(digest(algorithm, cert).as_ref().to_vec())
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_socket_gets_a_connector_without_a_name() {
        let mut make = Settings::default().connector().unwrap();
        let connect = MakeTlsConnect::<tokio::io::Empty>::make_tls_connect(&mut make, "").unwrap();
        assert!(connect.name.is_none());
        assert!(
            MakeTlsConnect::<tokio::io::Empty>::make_tls_connect(&mut make, "db.example")
                .unwrap()
                .name
                .is_some()
        );
    }
}
