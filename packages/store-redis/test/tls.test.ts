import t from 'tap'
import { readFile } from 'node:fs/promises'
import { makeCert, startRedis } from '@culex/test-kit'
import { RedisStore } from '../src/index.ts'

t.test('TLS: rediss:// with the server certificate as CA', async (t) => {
  const { cert, key } = makeCert()
  // TLS only: the plain port is switched off, the harness's free port becomes the TLS port
  const server = await startRedis(['--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no'], { tls: true, teardown: t })
  const url = `rediss://localhost:${server.port}`
  const store = new RedisStore({ url, tls: { ca: await readFile(cert) } })
  t.teardown(() => store.close())
  await store.putIncoming('c', 7)
  t.equal(await store.hasIncoming('c', 7), true, 'round trip over TLS')
  const untrusted = new RedisStore({ url, commandTimeout: 1000 })
  t.teardown(() => untrusted.close().catch(() => {}))
  await t.rejects(untrusted.hasIncoming('c', 7), { code: 'STORE_REDIS_ERR_UNAVAILABLE' }, 'an untrusted certificate is refused')
})
