//! The drivers' side of the message transform stage
//! ([`crate::transform`]): one send's message, the form each attempt gives
//! it, and how that form is counted and written.

use postie_mime::Message;
#[cfg(feature = "tokio")]
use postie_mime::MessageStream;

use crate::envelope::Prepared;
use crate::error::TransformError;
use crate::proto::{Content, ServerOffers, Wire};
use crate::setup::Setup;
use crate::transform::Outgoing;

/// One send's message and its form on the current attempt.
pub(crate) struct Outbound<'m> {
    message: &'m Message,
    prepared: &'m Prepared,
    setup: &'m Setup,
    /// Made at each [`crate::proto::Step::Transform`].
    current: Option<Outgoing<'m>>,
}

impl<'m> Outbound<'m> {
    pub(crate) fn new(message: &'m Message, prepared: &'m Prepared, setup: &'m Setup) -> Self {
        Self {
            message,
            prepared,
            setup,
            current: None,
        }
    }

    /// Makes the form for a server that offers `offers`, starting again
    /// from the caller's message.
    pub(crate) fn transform(&mut self, offers: &ServerOffers) -> Result<Wire, TransformError> {
        let config = &self.setup.config;
        let mut outgoing = Outgoing::new(
            self.message,
            self.prepared.headers(),
            (config.reverse_path.clone(), config.recipients.clone()),
            &self.setup.ascii_forms,
            (
                Content::new(config.eight_bit, config.binary, config.repaired)
                    .with_utf8_header(config.utf8_header),
                config.size,
            ),
        );
        self.current = None;
        self.setup.transforms.run(&mut outgoing, offers)?;
        let wire = outgoing.wire();
        self.current = Some(outgoing);
        Ok(wire)
    }

    /// Writes the current form, before dot-stuffing (the message as
    /// prepared when no form was made).
    pub(crate) fn write_to(&self, w: &mut dyn std::io::Write) -> Result<(), postie_mime::Error> {
        match &self.current {
            Some(outgoing) => outgoing.write_to(w),
            None => self.prepared.write_message(self.message, w),
        }
    }

    /// [`Outbound::write_to`] for a driver that pulls the bytes.
    #[cfg(feature = "tokio")]
    pub(crate) fn stream(&self) -> Result<MessageStream<'_>, postie_mime::Error> {
        match &self.current {
            Some(outgoing) => outgoing.stream(),
            None => self.message.stream_with_headers(self.prepared.headers()),
        }
    }
}
