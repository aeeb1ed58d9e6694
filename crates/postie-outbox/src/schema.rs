//! The spool's tables, made and changed by numbered migrations.
//!
//! `postie_schema_version` lists the migrations applied (one row each).
//! A migration runs in one transaction under an advisory lock on the
//! schema's name ([`MIGRATE_LOCK`]), so it can run at every start of every
//! process: two running it at once apply each migration once, and a run
//! that fails leaves nothing half done. A schema newer than this library
//! knows is refused, not used: it may hold states this one would
//! mishandle. A migration is never changed once released; a change is a
//! new one.
//!
//! Other clients apply [`MIGRATIONS`] the same way: create
//! [`VERSION_TABLE`], take the lock, apply those above the highest
//! version recorded, record each, commit.

/// One step of the schema: its number (from 1, no gaps), what it does,
/// and its SQL (several statements).
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Its number.
    pub version: i32,
    /// What it does, as recorded in `postie_schema_version`.
    pub description: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "postie_spool: one row per kept message",
        sql: V1,
    },
    Migration {
        version: 2,
        description: "relayers woken by NOTIFY when a row becomes queued",
        sql: V2,
    },
    Migration {
        version: 3,
        description: "an outbox row needs only the transport, the envelope and the message",
        sql: V3,
    },
];

/// The table recording the migrations applied.
pub const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS postie_schema_version (
    version     integer PRIMARY KEY,
    applied     timestamptz NOT NULL DEFAULT now(),
    description text NOT NULL
)";

/// The lock that serializes migrations of one schema (other schemas of the
/// database are not held up); released at the end of the transaction.
pub const MIGRATE_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext('postie_schema:' || current_schema()))";

/// The channel relayers `LISTEN` on; the payload is the table's schema
/// (relayers of another schema of the database wake for nothing).
pub const NOTIFY_CHANNEL: &str = "postie_spool";

/// The newest schema version this library knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The statements that record a migration, and read the current version
/// (for this crate's clients).
#[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
pub(crate) const RECORD: &str =
    "INSERT INTO postie_schema_version (version, description) VALUES ($1, $2)";
#[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
pub(crate) const CURRENT: &str = "SELECT coalesce(max(version), 0) FROM postie_schema_version";

/// The spool table. Times are `timestamptz`; the record's own times
/// (seconds in `meta.json`) convert both ways. The checks keep a row's
/// columns in step with its state, whoever writes it.
const V1: &str = r"
CREATE TABLE postie_spool (
    -- The spool id: digits and dashes, as the folder store's.
    id              text PRIMARY KEY CHECK (id ~ '^[0-9][0-9-]{0,63}$'),
    state           text NOT NULL CHECK (state IN
                        ('queued', 'sending', 'unknown', 'dead', 'damaged', 'sent')),
    -- The record's format (meta.json's version).
    format          integer NOT NULL CHECK (format >= 2),
    created         timestamptz NOT NULL DEFAULT now(),
    -- The account by name, and the accounts file it is read from: the
    -- relayer reads both (and the secret) on its own host.
    account         text,
    config          text,
    -- How to send: TransportSettings as JSON (where a secret comes from,
    -- never a secret).
    transport       jsonb NOT NULL,
    -- The envelope.
    reverse_path    text NOT NULL,
    recipients      text[] NOT NULL,
    -- The message as prepared for the first attempt; dropped once sent.
    message         bytea,
    size            bigint NOT NULL CHECK (size >= 0),
    sha256          text,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt    timestamptz NOT NULL DEFAULT now(),
    last_attempt    timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    maybe_delivered boolean NOT NULL DEFAULT false,
    dead_reason     text,
    -- Why it was moved aside (state damaged).
    damage          text,
    -- The claim (state sending): where it rested, who holds it, the
    -- claim's token, until when, and the durable mark set just before
    -- the DATA or BDAT command.
    claimed_from    text CHECK (claimed_from IN ('queued', 'unknown', 'dead')),
    relayer         text,
    claim           bigint,
    lease_until     timestamptz,
    data_sent_at    timestamptz,
    sent_at         timestamptz,
    CONSTRAINT postie_spool_claim CHECK ((state = 'sending') = (claimed_from IS NOT NULL
        AND relayer IS NOT NULL AND claim IS NOT NULL AND lease_until IS NOT NULL)),
    CONSTRAINT postie_spool_mark CHECK (state = 'sending' OR data_sent_at IS NULL),
    CONSTRAINT postie_spool_sent CHECK ((state = 'sent') = (sent_at IS NOT NULL)),
    CONSTRAINT postie_spool_message CHECK (state = 'sent' OR message IS NOT NULL)
);
-- What is due, for the relayers' batch claims.
CREATE INDEX postie_spool_due ON postie_spool (next_attempt, created) WHERE state = 'queued';
-- The leases recover looks at.
CREATE INDEX postie_spool_leases ON postie_spool (lease_until) WHERE state = 'sending';
-- The sent rows a purge deletes.
CREATE INDEX postie_spool_sent_at ON postie_spool (sent_at) WHERE state = 'sent';
-- The listings by state, oldest first.
CREATE INDEX postie_spool_by_state ON postie_spool (state, created, id);
";

/// A row that becomes queued (inserted by postie or any other program,
/// or put back after an attempt) wakes the listening relayers. Row by
/// row, so that other states' changes (a batch's results) wake nobody;
/// PostgreSQL sends one notification per transaction for the same
/// channel and payload.
const V2: &str = r"
CREATE FUNCTION postie_spool_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('postie_spool', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;
CREATE TRIGGER postie_spool_queued AFTER INSERT OR UPDATE OF state ON postie_spool
    FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION postie_spool_notify();
";

/// Rows inserted by other programs (the outbox): the id, the state
/// (`queued`), the record's format, an empty transport (the account's
/// settings, or the defaults) default; the size and the SHA-256 are
/// computed from the message when not given. The relayer checks both
/// before it sends, as for any row.
const V3: &str = r"
CREATE FUNCTION postie_spool_id() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT floor(extract(epoch FROM t))::bigint::text || '-'
        || lpad((floor(extract(microseconds FROM t))::bigint % 1000000)::text, 6, '0')
        || '-' || floor(random() * 1000000000)::bigint::text
    FROM clock_timestamp() AS t
$$;
ALTER TABLE postie_spool ALTER COLUMN id SET DEFAULT postie_spool_id();
ALTER TABLE postie_spool ALTER COLUMN state SET DEFAULT 'queued';
ALTER TABLE postie_spool ALTER COLUMN format SET DEFAULT 2;
ALTER TABLE postie_spool ALTER COLUMN transport SET DEFAULT '{}'::jsonb;
CREATE FUNCTION postie_spool_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size IS NULL THEN
        NEW.size := octet_length(NEW.message);
    END IF;
    IF NEW.sha256 IS NULL AND NEW.message IS NOT NULL THEN
        NEW.sha256 := encode(sha256(NEW.message), 'hex');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER postie_spool_fill BEFORE INSERT ON postie_spool
    FOR EACH ROW EXECUTE FUNCTION postie_spool_fill();
ALTER TABLE postie_spool ADD CONSTRAINT postie_spool_recipients
    CHECK (state = 'sent' OR cardinality(recipients) > 0);
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_without_gaps() {
        for (n, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(usize::try_from(migration.version).ok(), Some(n + 1));
        }
    }
}
