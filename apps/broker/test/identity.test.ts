/**
 * --use-identity-as-username: a TLS client is known by its certificate's CN, whatever
 * username it sends, for the ACL (%u patterns) and for the ownership of its session.
 */
import t from 'tap'
import mqtt from 'mqtt'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { hasBinary, makePki, runCulex, startCulex, tempDir } from './helpers/culex.ts'

const skip = hasBinary('openssl') ? false : 'openssl is not installed (needed to make test certificates)'

t.test('the certificate CN is the username for the ACL and for session ownership', { skip }, async (t) => {
  const dir = tempDir(t)
  const pki = makePki(dir)
  const acl = join(dir, 'acl')
  // the client certificate's CN is "culex test client"
  writeFileSync(acl, 'user culex test client\ntopic readwrite cn/#\nuser mallory\ntopic readwrite #\n')
  const culex = await startCulex(t, ['--tls-port', '0', '--cert', pki.cert, '--key', pki.key, '--ca', pki.ca, '--require-client-cert', '--use-identity-as-username', '--acl-file', acl, '--sys-interval', '0'])
  const url = `mqtts://127.0.0.1:${culex.ports.mqtts}`
  const tls = { ca: pki.caPem, cert: pki.clientCertPem, key: pki.clientKeyPem }
  // claims to be mallory (who may read everything): the certificate says otherwise
  const c = await mqtt.connectAsync(url, { ...tls, reconnectPeriod: 0, connectTimeout: 5000, username: 'mallory', clientId: 'cn-1', protocolVersion: 5 })
  t.teardown(() => { c.end(true) })
  const granted = await c.subscribeAsync('cn/#', { qos: 1 })
  t.same(granted.map((g) => g.qos), [1], 'the CN may subscribe to its tree')
  await t.rejects(c.subscribeAsync('other/#', { qos: 1 }), /Not authorized/, 'rights are those of the CN, not of the CONNECT username (mallory may read everything)')
  await t.rejects(c.publishAsync('other/x', 'no', { qos: 1 }), 'publishing outside the CN\'s rights is refused')
  await c.publishAsync('cn/x', 'yes', { qos: 1 })
})

t.test('--use-identity-as-username needs --require-client-cert', async (t) => {
  const r = await runCulex(['--use-identity-as-username'])
  t.equal(r.code, 2)
  t.match(r.stderr, /--use-identity-as-username: expected --require-client-cert/)
})
