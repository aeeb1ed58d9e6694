//! Offering TLS to a server that stays silent, to learn whether its port
//! speaks implicit TLS: a ClientHello, and a look at the first bytes that
//! come back. Used by both drivers (for a greeting that does not come) and
//! by `postie probe`.

use crate::tls::TlsSettings;

/// The bytes of a ClientHello for `server_name` (SNI), as a client with
/// default settings sends it; `None` if the name cannot be a TLS server
/// name. Whether the server's certificate would verify does not matter:
/// only whether it answers in TLS.
pub fn client_hello(server_name: &str) -> Option<Vec<u8>> {
    let config = TlsSettings::default().client_config().ok()?;
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned()).ok()?;
    let mut conn = rustls::ClientConnection::new(config, name).ok()?;
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).ok()?;
    Some(hello)
}

/// Whether `first`, the first bytes a server sent, begin a TLS record: a
/// handshake message (a ServerHello) or an alert, TLS 1.0 to 1.3 framing.
pub fn is_tls_record(first: &[u8]) -> bool {
    matches!(first, [0x15 | 0x16, 0x03, ..])
}

/// The blocking check on an open `stream` (its time limits set by the
/// caller): send the ClientHello, read two bytes.
pub(crate) fn answers_tls_blocking<S: std::io::Read + std::io::Write + ?Sized>(
    stream: &mut S,
    server_name: &str,
) -> bool {
    let Some(hello) = client_hello(server_name) else {
        return false;
    };
    let mut first = [0u8; 2];
    stream
        .write_all(&hello)
        .and_then(|()| stream.flush())
        .and_then(|()| stream.read_exact(&mut first))
        .is_ok_and(|()| is_tls_record(&first))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_client_hello_is_a_tls_handshake_record() {
        let hello = client_hello("mail.example.org").unwrap();
        assert_eq!(hello[0], 0x16, "a handshake record");
        assert_eq!(hello[1], 0x03);
        assert!(client_hello("not a name").is_none());
    }

    #[test]
    fn tls_records_are_told_from_smtp() {
        assert!(is_tls_record(&[0x16, 0x03, 0x03, 0x00]));
        assert!(is_tls_record(&[0x15, 0x03]));
        assert!(!is_tls_record(b"220 mx.example.org ESMTP"));
        assert!(!is_tls_record(&[0x16]));
    }
}
