// Haraka plugin for postie's test Haraka (scripts/servers/haraka.sh copies it
// into the instance's plugins/ directory). Haraka has no local delivery; this
// plugin is its queue, plus the little policy the tests need:
//
// * RCPT: nobody@<domain> -> "550 5.1.1 <nobody@...>: no such user"; a local
//   part that cannot be a directory name (empty, leading dot, slash) -> 550
//   5.1.1; another domain from an authenticated client -> "550 5.7.1 ...
//   delivery off this test server is disabled" (Haraka would otherwise
//   deliver it to the world: outbound, MX lookups). Another domain from an
//   unauthenticated client is left to Haraka ("550 I cannot deliver mail
//   for <...>"). Everything else @<domain> is accepted by rcpt_to.in_host_list.
// * queue and queue_outbound (authenticated clients' mail goes through the
//   latter): the message, exactly as Haraka stores it (with its Received:
//   on top), written once per distinct local part (lower-cased) into the
//   Maildir <base>/<localpart>/ (tmp/, then renamed into new/), files 0644,
//   directories 0755. Then OK: "250 Message Queued (<transaction uuid>)".
// * AUTH only after STARTTLS: auth/flat_file offers AUTH in clear to private
//   addresses (127.0.0.1 is one); the EHLO reply loses it here, and AUTH
//   before TLS gets "530 5.7.0 Must issue a STARTTLS command first".
// * no reverse DNS lookup of clients (the server is on loopback): "localhost".
// * no Authentication-Results header: Haraka would add one
//   ("auth=pass (plain)") to the top of every authenticated message.
//
// Configuration: config/haraka_maildir.ini, [main] base=DIR, domain=DOMAIN.
// List the plugin after auth/flat_file and before rcpt_to.in_host_list.

'use strict'

const fs = require('node:fs/promises')
const path = require('node:path')

let seq = 0

exports.register = function () {
    this.cfg = this.config.get('haraka_maildir.ini').main
    if (!this.cfg.base || !this.cfg.domain) throw new Error('haraka_maildir.ini: base and domain are required')
    this.domain = String(this.cfg.domain).toLowerCase()
    this.register_hook('queue', 'deliver')
    this.register_hook('queue_outbound', 'deliver')
}

// No reverse DNS lookup of the client (Haraka's default, on every
// connection): the server listens on loopback only.
exports.hook_lookup_rdns = function (next) {
    next(OK, 'localhost')
}

exports.hook_capabilities = function (next, connection) {
    if (connection.tls.enabled) return next()
    connection.capabilities = connection.capabilities.filter((c) => !/^AUTH\b/i.test(c))
    delete connection.notes.allowed_auth_methods
    next()
}

exports.hook_unrecognized_command = function (next, connection, params) {
    if (params[0].toUpperCase() === 'AUTH' && !connection.tls.enabled) {
        connection.respond(530, '5.7.0 Must issue a STARTTLS command first', () => next(OK))
        return
    }
    next()
}

exports.hook_rcpt = function (next, connection, params) {
    const rcpt = params[0]
    const domain = String(rcpt.host || '').toLowerCase()
    if (domain !== this.domain) {
        if (connection.relaying) return next(DENY, `5.7.1 ${rcpt.format()}: delivery off this test server is disabled`)
        return next()
    }
    const local = String(rcpt.user || '').toLowerCase()
    if (local === 'nobody' || local === '' || local.startsWith('.') || local.includes('/')) {
        return next(DENY, `5.1.1 ${rcpt.format()}: no such user`)
    }
    next()
}

// Drop the Authentication-Results header Haraka builds from these notes at
// the end of DATA (this hook runs when DATA is received, before that).
exports.hook_data = function (next, connection) {
    connection.notes.authentication_results = []
    if (connection.transaction) connection.transaction.notes.authentication_results = []
    next()
}

// A unique Maildir file name: time, microseconds, pid, sequence, host.
function maildir_name() {
    const t = Date.now()
    seq += 1
    return `${Math.floor(t / 1000)}.M${(t % 1000) * 1000}P${process.pid}Q${seq}.haraka.test`
}

async function store(dir, data) {
    for (const sub of ['tmp', 'new', 'cur']) {
        await fs.mkdir(path.join(dir, sub), { recursive: true, mode: 0o755 })
    }
    const name = maildir_name()
    const tmp = path.join(dir, 'tmp', name)
    await fs.writeFile(tmp, data, { mode: 0o644 })
    await fs.rename(tmp, path.join(dir, 'new', name))
}

exports.deliver = function (next, connection) {
    const txn = connection.transaction
    const locals = [...new Set(txn.rcpt_to.map((r) => String(r.user).toLowerCase()))]
    // The stored message: Haraka's header list (its Received: first), then
    // the body as received, CRLF line ends, dot-stuffing removed.
    txn.message_stream.get_data(async (data) => {
        try {
            for (const local of locals) {
                await store(path.join(this.cfg.base, local), data)
            }
        } catch (err) {
            connection.logerror(this, `Maildir delivery failed: ${err.message}`)
            return next(DENYSOFT, '4.3.0 Maildir delivery failed')
        }
        connection.loginfo(this, `delivered ${data.length} bytes to ${locals.join(', ')}`)
        next(OK)
    })
}
