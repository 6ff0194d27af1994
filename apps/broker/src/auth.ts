/**
 * The engine hooks built from the operator's files: `authenticate` from the password file
 * and the anonymous policy, `authorizePublish` / `authorizeSubscribe` / `authorizeRead`
 * from the ACL file. Hooks are only installed when they can refuse something, so a broker
 * without files keeps the engine's hook-free fast path.
 */
import { readFileSync } from 'node:fs'
import type { BrokerOptions } from '@culex/broker'
import { AppError } from './errors.ts'
import { PasswordDb, parsePasswordFile } from './passwd.ts'
import { Acl, parseAcl } from './acl.ts'

/** MQTT 5 CONNACK 0x87 Not authorized (3.1.1: return code 5). */
const NOT_AUTHORIZED = 0x87

/** What the hooks need. */
export interface AuthConfig {
  passwordFile: string | undefined
  aclFile: string | undefined
  allowAnonymous: boolean
  /**
   * Clients of the TLS and secure WebSocket listeners are known by the CN of their
   * certificate (Mosquitto's use_identity_as_username): it replaces the CONNECT username for
   * authorization and session ownership, and the password file is not asked for them.
   */
  useIdentityAsUsername?: boolean
}

/** The CN of a verified client certificate, if any. */
function certificateCn (cert: unknown): string | undefined {
  const cn = (cert as { subject?: { CN?: unknown } } | undefined)?.subject?.CN
  if (typeof cn === 'string' && cn.length > 0) return cn
  return Array.isArray(cn) && typeof cn[0] === 'string' && cn[0].length > 0 ? cn[0] : undefined
}

type Hooks = Pick<BrokerOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeRead' | 'authorizeReadFilter'>

function read (file: string, code: 'CULEX_ERR_PASSWORD_FILE' | 'CULEX_ERR_ACL_FILE', what: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new AppError(code, `${what} ${file}: expected a readable file, got ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
}

/**
 * Read the password and ACL files and build the hooks.
 *
 * @throws AppError CULEX_ERR_PASSWORD_FILE, CULEX_ERR_ACL_FILE
 */
export function buildAuthHooks (cfg: AuthConfig): { hooks: Hooks, users: number, aclRules: number, acl: Acl | undefined } {
  const hooks: Hooks = {}
  let parsed: Acl | undefined
  let users = 0
  let aclRules = 0
  const db = cfg.passwordFile === undefined ? undefined : new PasswordDb(parsePasswordFile(read(cfg.passwordFile, 'CULEX_ERR_PASSWORD_FILE', 'password file'), cfg.passwordFile))
  if (db !== undefined) users = db.size
  if (db !== undefined || !cfg.allowAnonymous || cfg.useIdentityAsUsername === true) {
    hooks.authenticate = (client, username, password) => {
      const transport = client.info.transport
      if (cfg.useIdentityAsUsername === true && (transport === 'tls' || transport === 'wss')) {
        const cn = certificateCn(client.info.tlsCertificate)
        return cn === undefined ? { reasonCode: NOT_AUTHORIZED, reasonString: 'a client certificate with a CN is required' } : { username: cn }
      }
      if (username === undefined) return cfg.allowAnonymous ? true : { reasonCode: NOT_AUTHORIZED, reasonString: 'anonymous clients are not allowed' }
      // Without a password file any username is accepted, as in Mosquitto.
      if (db === undefined) return true
      return db.check(username, password)
    }
  }
  if (cfg.aclFile !== undefined) {
    const rules = parseAcl(read(cfg.aclFile, 'CULEX_ERR_ACL_FILE', 'ACL file'), cfg.aclFile)
    aclRules = rules.anonymous.length + rules.patterns.length + [...rules.users.values()].reduce((n, l) => n + l.length, 0)
    const acl = new Acl(rules)
    parsed = acl
    // write decisions per (connection, topic): a connection's identity does not change, and a
    // publisher on one topic asks once instead of walking the file per PUBLISH
    const writes = new WeakMap<object, Map<string, boolean>>()
    hooks.authorizePublish = (client, packet) => {
      let known = writes.get(client)
      if (known === undefined) writes.set(client, known = new Map())
      let ok = known.get(packet.topic)
      if (ok === undefined) {
        ok = acl.canWrite({ clientId: client.id, username: client.username }, packet.topic)
        if (known.size >= 256) known.clear()
        if (packet.topic.length <= 256) known.set(packet.topic, ok)
      }
      return ok
    }
    hooks.authorizeSubscribe = (client, sub) => acl.canSubscribe({ clientId: client.id, username: client.username }, sub.topic)
    // decided per delivery on every path (live, retained, queued, resumed, shared, wills); the engine caches it per (session, topic)
    hooks.authorizeRead = (client, topic) => acl.canRead({ clientId: client.id, username: client.username }, topic)
    // a subscription the ACL lets read as a whole skips the per-topic decision
    hooks.authorizeReadFilter = (client, filter) => acl.canReadFilter({ clientId: client.id, username: client.username }, filter)
  }
  return { hooks, users, aclRules, acl: parsed }
}
