/**
 * The hooks built from the operator's files, called directly: the certificate identity
 * (--use-identity-as-username) on each transport, and hooks that survive a reload.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client, ConnectionInfo } from '@culex/broker'
import { buildAuthHooks } from '../src/auth.ts'
import { hashPassword } from '../src/passwd.ts'
import { reloadableHooks } from '../src/reload.ts'

function client (info: ConnectionInfo, username?: string): Client {
  return { id: 'c', protocolVersion: 5, username, info, connected: false, keepalive: 0, close () {} }
}

t.test('--use-identity-as-username: the CN of a TLS or WSS client certificate is the username', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-auth-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const passwd = join(dir, 'passwd')
  writeFileSync(passwd, `alice:${hashPassword('wonder')}\n`)
  const { hooks } = buildAuthHooks({ passwordFile: passwd, aclFile: undefined, allowAnonymous: false, useIdentityAsUsername: true })
  const auth = hooks.authenticate!
  t.same(await auth(client({ transport: 'tls', tlsCertificate: { subject: { CN: 'device-7' } } }, 'mallory'), 'mallory', undefined), { username: 'device-7' }, 'TLS: the CN, whatever the CONNECT says')
  t.same(await auth(client({ transport: 'wss', tlsCertificate: { subject: { CN: ['first', 'second'] } } }), undefined, undefined), { username: 'first' }, 'WSS: a repeated CN gives the first')
  t.match(await auth(client({ transport: 'tls', tlsCertificate: { subject: {} } }), 'alice', Buffer.from('wonder')), { reasonCode: 0x87 }, 'TLS without a CN: refused, the password does not stand in for it')
  t.match(await auth(client({ transport: 'tls' }), 'alice', Buffer.from('wonder')), { reasonCode: 0x87 }, 'TLS without a certificate: refused')
  t.equal(await auth(client({ transport: 'tcp' }), 'alice', Buffer.from('wonder')), true, 'TCP: the password file as usual')
  t.equal(await auth(client({ transport: 'tcp' }), 'alice', Buffer.from('nope')), false, 'TCP: a wrong password is refused')
  t.match(await auth(client({ transport: 'tcp' }), undefined, undefined), { reasonCode: 0x87 }, 'TCP: anonymous refused')
})

t.test('reloadable hooks call the version in force; a hook the new version lacks allows', async (t) => {
  let current: Parameters<typeof reloadableHooks>[0] = {
    authenticate: () => false,
    authorizeRead: () => false,
    authorizeForward: () => null
  }
  const hooks = reloadableHooks(current, () => current)
  const c = client({ transport: 'tcp' })
  const m = { topic: 't', payload: Buffer.alloc(0), qos: 0 as const, retain: false }
  t.equal(await hooks.authenticate!(c, undefined, undefined), false)
  t.equal(hooks.authorizeRead!(c, 't'), false)
  t.equal(hooks.authorizeForward!(c, m), null)
  current = {}
  t.equal(await hooks.authenticate!(c, undefined, undefined), true, 'authenticate allows')
  t.equal(hooks.authorizeRead!(c, 't'), true, 'authorizeRead allows')
  t.equal(hooks.authorizeForward!(c, m), m, 'authorizeForward passes the message on')
  t.equal(hooks.authorizePublish, undefined, 'a hook absent at start is not installed')
})
