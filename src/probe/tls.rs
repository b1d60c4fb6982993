//! TLS for checks: client configurations, driving a rustls connection over a non-blocking mio
//! socket, and reading the certificate's days to expiry.
//!
//! Shaped after rustls's own mio client example: the socket is never wrapped in a blocking
//! stream. The worker calls [`pump`] whenever the socket is ready: it writes what rustls wants
//! to send, reads what the socket has, lets rustls process it, and reports whether the peer
//! closed. TLS configurations are built once per process (roots loaded once) and shared by
//! every check: one that verifies against the system's roots (plus an optional CA file), and
//! one for `insecure_skip_verify` that accepts any certificate but still completes a real
//! handshake (so expiry is still read).

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::vocab::Reason;

/// The two client configurations every TLS check uses.
#[derive(Clone)]
pub struct TlsConfigs {
    pub verified: Arc<ClientConfig>,
    pub insecure: Arc<ClientConfig>,
    /// Roots loaded (system plus extra), for the start-up line.
    pub roots: usize,
}

impl std::fmt::Debug for TlsConfigs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsConfigs {{ roots: {} }}", self.roots)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfigs {
    /// Loads the system's roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured) and, if given,
    /// every certificate in the PEM file `extra_ca`.
    pub fn load(extra_ca: Option<&Path>) -> Result<TlsConfigs, String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = extra_ca {
            let pem = std::fs::read(path)
                .map_err(|e| format!("reading CA file {}: {e}", path.display()))?;
            let mut added = 0;
            for item in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
                let cert: CertificateDer<'static> =
                    item.map_err(|e| format!("CA file {}: {e:?}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("CA file {}: {e}", path.display()))?;
                added += 1;
            }
            if added == 0 {
                return Err(format!("CA file {}: no certificates", path.display()));
            }
        }
        let count = roots.len();
        let verified = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let insecure = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
            .with_no_client_auth();
        Ok(TlsConfigs {
            verified: Arc::new(verified),
            insecure: Arc::new(insecure),
            roots: count,
        })
    }

    /// A new client connection for `server_name`.
    pub fn connect(&self, server_name: &str, insecure: bool) -> Result<ClientConnection, String> {
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|_| format!("invalid TLS server name {server_name:?}"))?;
        let cfg = if insecure {
            self.insecure.clone()
        } else {
            self.verified.clone()
        };
        ClientConnection::new(cfg, name).map_err(|e| e.to_string())
    }
}

/// `insecure_skip_verify`: any certificate is accepted; signatures are still checked so the
/// handshake is a real one.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What one pump round saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pumped {
    /// Nothing more to do until the socket is ready again.
    Idle,
    /// The peer closed the TCP stream.
    Eof,
    /// Stopped without reading the socket dry: rustls holds plaintext not yet read (or the
    /// peer's close_notify). Read the plaintext, then pump again: the socket may hold more,
    /// and, edge-triggered, no new event comes for bytes already there.
    Held,
}

/// Writes what rustls wants to send, until it has nothing more or the socket would block.
pub fn flush<S: Write>(
    conn: &mut ClientConnection,
    sock: &mut S,
) -> Result<Pumped, (Reason, String)> {
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) => return Ok(Pumped::Eof),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((socket_reason(&e), e.to_string())),
        }
    }
    Ok(Pumped::Idle)
}

/// Writes what rustls wants to send and reads what the socket has, until the socket has
/// nothing more to read (one read that would block: the socket is edge-triggered, so what
/// arrives later comes with an event of its own). Errors: `Tls` for protocol and certificate
/// failures, `Reset` etc. for socket errors.
pub fn pump<S: Read + Write>(
    conn: &mut ClientConnection,
    sock: &mut S,
) -> Result<Pumped, (Reason, String)> {
    loop {
        if flush(conn, sock)? == Pumped::Eof {
            return Ok(Pumped::Eof);
        }
        if !conn.wants_read() {
            return Ok(Pumped::Held);
        }
        match conn.read_tls(sock) {
            Ok(0) => {
                // Let rustls see the end (it reports a missing close_notify as an error on
                // read, which the caller treats as end of stream).
                conn.process_new_packets()
                    .map_err(|e| (tls_reason(&e), e.to_string()))?;
                return Ok(Pumped::Eof);
            }
            // Processing may want to answer, and more may be waiting: round again.
            Ok(_) => {
                conn.process_new_packets()
                    .map_err(|e| (tls_reason(&e), e.to_string()))?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Pumped::Idle),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((socket_reason(&e), e.to_string())),
        }
    }
}

fn socket_reason(e: &io::Error) -> Reason {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Reason::Reset,
        io::ErrorKind::TimedOut => Reason::Timeout,
        _ => Reason::Reset,
    }
}

fn tls_reason(_: &rustls::Error) -> Reason {
    Reason::Tls
}

/// Whole days until the peer's leaf certificate expires (negative when expired), or `None`
/// when there is no certificate or it does not parse.
pub fn leaf_days_left(conn: &ClientConnection, now: SystemTime) -> Option<i32> {
    let leaf = conn.peer_certificates()?.first()?;
    days_left(leaf.as_ref(), now)
}

/// Seconds until the DER certificate's notAfter (negative when expired).
pub fn seconds_left(der: &[u8], now: SystemTime) -> Option<i64> {
    seconds_until(not_after(der)?, now)
}

/// The DER certificate's notAfter, in seconds since the Unix epoch.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Seconds from `now` until `unix_s` (negative when past).
pub fn seconds_until(unix_s: i64, now: SystemTime) -> Option<i64> {
    let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(unix_s - now)
}

fn days_left(der: &[u8], now: SystemTime) -> Option<i32> {
    seconds_left(der, now).map(|s| (s.div_euclid(86_400)).clamp(-100_000, 100_000) as i32)
}
