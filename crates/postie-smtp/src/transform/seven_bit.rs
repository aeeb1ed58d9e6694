//! The 7-bit rewrite: 8-bit or binary data re-encoded for a server that
//! cannot take it as it is.

use super::{MessageTransform, Order, Outgoing};
use crate::proto::{Content, ServerOffers};

/// Rewrites the parts holding 8-bit or binary data as quoted-printable or
/// base64 ([`postie_mime::seven_bit`]) when the server cannot take them:
/// binary data without BINARYMIME over BDAT (or once a bare CR or LF was
/// repaired, since BINARYMIME must carry the bytes exactly), 8-bit data
/// without 8BITMIME. What postie's writer built is 7-bit already and is
/// never touched.
#[derive(Clone, Copy, Debug, Default)]
pub struct SevenBitRewrite;

impl SevenBitRewrite {
    /// Whether data holding `content` must be rewritten for `offers`.
    pub fn needed(content: Content, offers: &ServerOffers) -> bool {
        let binary_goes = content.binary && !content.repaired && offers.binary_mime;
        (content.binary && !binary_goes)
            || (content.eight_bit && !binary_goes && !offers.eight_bit_mime)
    }
}

impl MessageTransform for SevenBitRewrite {
    fn name(&self) -> &str {
        "7-bit rewrite"
    }

    fn order(&self) -> Order {
        Order::Adapt
    }

    fn apply(
        &self,
        outgoing: &mut Outgoing<'_>,
        offers: &ServerOffers,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if !Self::needed(outgoing.content(), offers) {
            return Ok(());
        }
        // A message signed before postie got it: re-encoding its 8-bit
        // parts would break that signature, and postie cannot sign in its
        // place. It is refused rather than delivered broken.
        if outgoing.headers().contains("DKIM-Signature") {
            return Err(Box::new(SignedMessage));
        }
        let rewritten = postie_mime::seven_bit::to_seven_bit_with_headers(
            outgoing.message(),
            outgoing.headers(),
        )?;
        outgoing.replace(rewritten, Content::default());
        outgoing.note(
            "the server cannot take the message's 8-bit or binary data as it is: those parts go re-encoded",
        );
        Ok(())
    }
}

/// A message that arrived signed cannot go to this server as it is, and
/// re-encoding it would break its signature: a permanent refusal (the
/// same server will never take it), not a problem of the message.
#[derive(Debug)]
pub struct SignedMessage;

impl std::fmt::Display for SignedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the message carries a DKIM-Signature and the server cannot take its 8-bit data as it is: re-encoding it would break the signature (send it to a server that offers 8BITMIME, or sign after postie)",
        )
    }
}

impl std::error::Error for SignedMessage {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_only_where_the_data_cannot_go_as_it_is() {
        let eight_bit = Content::new(true, false, false);
        let binary = Content::new(true, true, false);
        let repaired_binary = Content::new(false, true, true);
        let none = ServerOffers::new(false, false, false);
        let eight = ServerOffers::new(true, false, false);
        let all = ServerOffers::new(true, true, false);
        assert!(!SevenBitRewrite::needed(Content::default(), &none));
        assert!(SevenBitRewrite::needed(eight_bit, &none));
        assert!(!SevenBitRewrite::needed(eight_bit, &eight));
        assert!(SevenBitRewrite::needed(binary, &eight));
        assert!(!SevenBitRewrite::needed(binary, &all));
        // BINARYMIME carries the bytes exactly: repaired ones cannot go.
        assert!(SevenBitRewrite::needed(repaired_binary, &all));
        // 8-bit data rides with binary data under BINARYMIME.
        assert!(!SevenBitRewrite::needed(
            binary,
            &ServerOffers::new(false, true, false)
        ));
    }
}
