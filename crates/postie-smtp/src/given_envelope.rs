//! An envelope given with one message, for a session or pool that sends
//! messages whose envelopes differ (a relayer sending what a spool kept).

/// The envelope of one message, given with it to
/// [`Session::send_to`](crate::blocking::Session::send_to) or
/// [`Pool::send_to`](crate::blocking::Pool::send_to) (and the tokio
/// driver's): it takes the place of the options' `originator` and
/// `recipients` for that message alone, with their meaning (an empty
/// originator is the null reverse-path; the recipients are exactly the
/// envelope's, the header fields are not read for them).
///
/// ```
/// use postie_smtp::Envelope;
///
/// let envelope = Envelope::new("bounces@example.org", ["a@example.org", "b@example.org"]);
/// assert_eq!(envelope.recipients(), "a@example.org, b@example.org");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    originator: String,
    recipients: String,
}

impl Envelope {
    /// The envelope from `originator` (empty: the null reverse-path) to
    /// each of `recipients`.
    pub fn new<I, S>(originator: impl Into<String>, recipients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = String::new();
        for recipient in recipients {
            if !list.is_empty() {
                list.push_str(", ");
            }
            list.push_str(recipient.as_ref());
        }
        Self {
            originator: originator.into(),
            recipients: list,
        }
    }

    /// The originator, as given.
    pub fn originator(&self) -> &str {
        &self.originator
    }

    /// The recipients as one comma-separated list, as
    /// [`SendOptions::recipients`](crate::SendOptions::recipients) takes
    /// them.
    pub fn recipients(&self) -> &str {
        &self.recipients
    }
}
