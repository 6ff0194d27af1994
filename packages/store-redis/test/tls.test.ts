import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RedisStore } from '../src/index.ts'
import { startRedis } from './redis-server.ts'

t.test('TLS: rediss:// with the server certificate as CA', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'culex-redis-tls-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' })
  // TLS only: the plain port is switched off, the harness's free port becomes the TLS port
  const server = await startRedis(['--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no'], { tls: true })
  t.teardown(() => server.destroy())
  const url = `rediss://localhost:${server.port}`
  const store = new RedisStore({ url, tls: { ca: await readFile(cert) } })
  t.teardown(() => store.close())
  await store.putIncoming('c', 7)
  t.equal(await store.hasIncoming('c', 7), true, 'round trip over TLS')
  const untrusted = new RedisStore({ url, commandTimeout: 1000 })
  t.teardown(() => untrusted.close().catch(() => {}))
  await t.rejects(untrusted.hasIncoming('c', 7), { code: 'STORE_REDIS_ERR_UNAVAILABLE' }, 'an untrusted certificate is refused')
})
