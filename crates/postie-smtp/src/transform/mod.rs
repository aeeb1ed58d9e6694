//! Message transforms: the stage where the message is given its form for
//! one attempt, after EHLO (the server's offers are known) and before its
//! size is counted for SIZE or BDAT.
//!
//! The core asks for it before each MAIL ([`crate::proto::Step::Transform`]);
//! the drivers run the transforms in order over an [`Outgoing`] (the
//! envelope paths and the message as it will be written), then hand the
//! core the result as a [`crate::proto::Wire`]. The body written at
//! [`crate::proto::Step::WriteBody`] is exactly what the last transform
//! left, so a signer placed last sees the bytes that go.
//!
//! The order is fixed by [`Order`]: the caller's rewrites, then what adapts
//! the message to the server (the ASCII forms of IDN paths where SMTPUTF8
//! is missing: [`SmtpUtf8Fallback`]; the 7-bit rewrite where 8-bit or
//! binary data cannot go as it is: [`SevenBitRewrite`]), then signers
//! (DKIM), which must come after every change.

mod outgoing;
mod seven_bit;
mod smtputf8;

use std::sync::Arc;

pub use crate::error::TransformError;
pub use crate::proto::{Content, ServerOffers};
pub use outgoing::Outgoing;
pub use seven_bit::{SevenBitRewrite, SignedMessage};
pub(crate) use smtputf8::raw_utf8;
pub use smtputf8::SmtpUtf8Fallback;

/// Where a transform runs among the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Order {
    /// Changes the message as the caller wants it sent (before postie
    /// adapts it to the server).
    Rewrite,
    /// Adapts the message to what the server offers (postie's own).
    Adapt,
    /// Signs the message: runs after every change, and must change
    /// nothing but add header fields at the top.
    Sign,
}

/// One stage of the message's preparation for a server.
pub trait MessageTransform: Send + Sync {
    /// A short name, for errors and the transcript.
    fn name(&self) -> &str;

    /// Where it runs; rewrites by default.
    fn order(&self) -> Order {
        Order::Rewrite
    }

    /// Changes `outgoing` for a server that offers `offers`. An error fails
    /// the message before anything of it is sent.
    fn apply(
        &self,
        outgoing: &mut Outgoing<'_>,
        offers: &ServerOffers,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// How many of postie's own adaptations [`Transforms::with`] adds.
const BUILTIN: usize = 2;

/// The transforms of a send, in the order they run: postie's own
/// adaptations among the caller's, sorted by [`Order`] (stable, so
/// transforms of the same order keep the order they were added in).
#[derive(Clone)]
pub struct Transforms(Vec<Arc<dyn MessageTransform>>);

impl Transforms {
    /// Postie's adaptations and `added`.
    pub fn with(added: &[Arc<dyn MessageTransform>]) -> Self {
        let builtin: [Arc<dyn MessageTransform>; BUILTIN] =
            [Arc::new(SmtpUtf8Fallback), Arc::new(SevenBitRewrite)];
        let mut all: Vec<Arc<dyn MessageTransform>> =
            builtin.into_iter().chain(added.iter().cloned()).collect();
        all.sort_by_key(|t| t.order());
        Self(all)
    }

    /// Runs every transform over `outgoing`, in order.
    pub fn run(
        &self,
        outgoing: &mut Outgoing<'_>,
        offers: &ServerOffers,
    ) -> Result<(), TransformError> {
        for transform in &self.0 {
            transform
                .apply(outgoing, offers)
                .map_err(|e| TransformError::new(transform.name(), e))?;
        }
        Ok(())
    }

    /// Whether running them could change a message holding `content`
    /// whose envelope paths are ASCII or not: postie's adaptations act only
    /// on 8-bit or binary data and non-ASCII paths; any other transform
    /// always runs.
    pub fn may_change(&self, content: Content, ascii_paths: bool) -> bool {
        self.0.len() > BUILTIN || !content.is_seven_bit() || !ascii_paths
    }

    /// The names, in the order they run.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|t| t.name())
    }
}

impl Default for Transforms {
    fn default() -> Self {
        Self::with(&[])
    }
}

impl std::fmt::Debug for Transforms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str, Order);

    impl MessageTransform for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn order(&self) -> Order {
            self.1
        }
        fn apply(
            &self,
            _: &mut Outgoing<'_>,
            _: &ServerOffers,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Ok(())
        }
    }

    #[test]
    fn signers_run_last_and_each_order_keeps_the_callers_sequence() {
        let added: [Arc<dyn MessageTransform>; 3] = [
            Arc::new(Named("sign", Order::Sign)),
            Arc::new(Named("first", Order::Rewrite)),
            Arc::new(Named("second", Order::Rewrite)),
        ];
        let all = Transforms::with(&added);
        assert_eq!(
            all.names().collect::<Vec<_>>(),
            [
                "first",
                "second",
                "SMTPUTF8 fallback",
                "7-bit rewrite",
                "sign"
            ]
        );
    }

    #[test]
    fn the_stage_is_skipped_only_where_nothing_in_it_could_act() {
        let postie_only = Transforms::default();
        let seven_bit = Content::default();
        assert!(!postie_only.may_change(seven_bit, true));
        assert!(postie_only.may_change(seven_bit, false));
        assert!(postie_only.may_change(Content::new(true, false, false), true));
        let added: [Arc<dyn MessageTransform>; 1] = [Arc::new(Named("x", Order::Rewrite))];
        assert!(Transforms::with(&added).may_change(seven_bit, true));
    }
}
