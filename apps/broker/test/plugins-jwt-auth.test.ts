// culex:jwt-auth with real tokens signed by jose (SignJWT), through the real culex process
// configured by a YAML file: HS256 secret and public-key files, exp/nbf/iss/aud, the
// username claim, and publish/subscribe claims mapped to topic filters, enforced per
// delivery and refused once the token expired.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import { SignJWT } from 'jose'
import type mqtt from 'mqtt'
import { startCulex, tempDir } from './helpers/culex.ts'
import { connect5, puback, suback, inbox, until, sleep } from './helpers/plugins.ts'

const SECRET = 'a-test-secret-of-at-least-32-bytes!!'
const key = new TextEncoder().encode(SECRET)
const now = (): number => Math.floor(Date.now() / 1000)

async function hs256 (claims: Record<string, unknown>, opts: { exp?: number, nbf?: number, iss?: string, aud?: string, secret?: Uint8Array } = {}): Promise<string> {
  const j = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt()
  if (opts.exp !== undefined) j.setExpirationTime(opts.exp)
  if (opts.nbf !== undefined) j.setNotBefore(opts.nbf)
  if (opts.iss !== undefined) j.setIssuer(opts.iss)
  if (opts.aud !== undefined) j.setAudience(opts.aud)
  return await j.sign(opts.secret ?? key)
}

async function start (t: { teardown: (fn: () => unknown) => void }, options: string, files: Record<string, string> = {}): Promise<number> {
  const dir = tempDir(t)
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  writeFileSync(join(dir, 'culex.yaml'), `plugins:\n  - module: culex:jwt-auth\n    options:\n${options.split('\n').filter(Boolean).map(l => `      ${l}`).join('\n')}\n`)
  const culex = await startCulex(t, ['-c', 'culex.yaml'], { cwd: dir })
  return culex.ports.mqtt!
}

t.test('HS256: valid tokens connect; expired, not yet valid, badly signed, wrong issuer/audience/username are refused', async t => {
  const port = await start(t, `secret: "${SECRET}"\nissuer: https://issuer.example\naudience: culex\nusernameClaim: sub`)
  const good = { iss: 'https://issuer.example', aud: 'culex', exp: now() + 60 }
  const conn = async (id: string, username: string, password: string | undefined): Promise<mqtt.MqttClient | number> =>
    await connect5(t, port, { clientId: id, username, ...(password === undefined ? {} : { password }) })
  t.type(await conn('ok', 'dev-1', await hs256({ sub: 'dev-1' }, good)), 'object', 'valid token')
  t.equal(await conn('exp', 'dev-1', await hs256({ sub: 'dev-1' }, { ...good, exp: now() - 10 })), 0x86, 'expired')
  t.equal(await conn('nbf', 'dev-1', await hs256({ sub: 'dev-1' }, { ...good, nbf: now() + 60 })), 0x86, 'not yet valid')
  t.equal(await conn('sig', 'dev-1', await hs256({ sub: 'dev-1' }, { ...good, secret: new TextEncoder().encode('another-secret-of-at-least-32-bytes') })), 0x86, 'wrong key')
  t.equal(await conn('iss', 'dev-1', await hs256({ sub: 'dev-1' }, { ...good, iss: 'https://evil.example' })), 0x86, 'wrong issuer')
  t.equal(await conn('aud', 'dev-1', await hs256({ sub: 'dev-1' }, { ...good, aud: 'other' })), 0x86, 'wrong audience')
  t.equal(await conn('user', 'dev-2', await hs256({ sub: 'dev-1' }, good)), 0x86, 'username is not the sub claim')
  t.equal(await conn('noexp', 'dev-1', await hs256({ sub: 'dev-1' }, { iss: good.iss, aud: good.aud })), 0x86, 'a token without exp is refused by default')
  t.equal(await conn('nopw', 'dev-1', undefined), 0x86, 'no password')
  t.equal(await conn('junk', 'dev-1', 'not.a.jwt'), 0x86, 'garbage')
  const tampered = (await hs256({ sub: 'dev-1' }, good)).split('.')
  tampered[1] = Buffer.from(JSON.stringify({ sub: 'dev-1', ...good, exp: now() + 9999 })).toString('base64url')
  t.equal(await conn('tamper', 'dev-1', tampered.join('.')), 0x86, 'payload changed after signing')
})

t.test('public key file (ES256 and RS256): tokens signed with the private key', async t => {
  for (const [type, alg] of [['ec', 'ES256'], ['rsa', 'RS256']] as const) {
    const pair = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string
    const port = await start(t, 'publicKeyFile: keys/pub.pem', {})
      .catch(() => -1)
    t.equal(port, -1, `${alg}: a missing key file stops culex`)
    const dir = tempDir(t)
    writeFileSync(join(dir, 'pub.pem'), pem)
    const p = await start(t, `publicKeyFile: ${join(dir, 'pub.pem')}`)
    const token = await new SignJWT({ sub: 'k' }).setProtectedHeader({ alg }).setExpirationTime(now() + 60).sign(pair.privateKey)
    t.type(await connect5(t, p, { clientId: `pk-${alg}`, username: 'k', password: token }), 'object', `${alg} token accepted`)
    const hs = await hs256({ sub: 'k' }, { exp: now() + 60 })
    t.equal(await connect5(t, p, { clientId: `hs-${alg}`, username: 'k', password: hs }), 0x86, `${alg}: an HS256 token is refused (algorithm confusion)`)
  }
})

t.test('claims map to publish and subscribe filters; reads are checked per delivery; an expired token loses its rights', async t => {
  const port = await start(t, `secret: "${SECRET}"\npublishClaim: pub\nsubscribeClaim: sub_topics\nclockTolerance: 0`)
  const token = async (claims: Record<string, unknown>, ttl: number): Promise<string> => await hs256(claims, { exp: now() + ttl })
  const dev = await connect5(t, port, { clientId: 'dev', username: 'dev', password: await token({ pub: ['devices/dev/#'], sub_topics: ['cmd/dev/+', 'broadcast/#'] }, 60) }) as mqtt.MqttClient
  const none = await connect5(t, port, { clientId: 'none', username: 'n', password: await token({}, 60) }) as mqtt.MqttClient
  const admin = await connect5(t, port, { clientId: 'admin', username: 'a', password: await token({ pub: '#', sub_topics: '#' }, 60) }) as mqtt.MqttClient

  t.equal(await puback(dev, 'devices/dev/temp'), 0, 'publish inside the claim')
  t.equal(await puback(dev, 'devices/other/temp'), 0x87, 'publish outside the claim')
  t.equal(await puback(none, 'devices/dev/temp'), 0x87, 'a token without the claim may not publish')
  t.equal(await suback(dev, 'cmd/dev/+'), 1, 'subscribe to the claimed filter')
  t.equal(await suback(dev, 'cmd/dev/reboot'), 1, 'to a narrower filter')
  t.equal(await suback(dev, 'cmd/#'), 0x87, 'not to a wider one')
  t.equal(await suback(dev, '$share/g/broadcast/news'), 1, 'shared subscriptions are checked on their filter')
  t.equal(await suback(admin, '$SYS/#'), 0x87, '# does not cover $ topics')
  t.equal(await suback(none, 'cmd/dev/+'), 0x87)

  const got = inbox(dev)
  await puback(admin, 'cmd/dev/reboot', 'r1')
  await until(() => got.length >= 1)
  t.same(got, [['cmd/dev/reboot', 'r1']], 'exactly the one message')
  t.equal(await puback(admin, '$SYS/x'), 0x87, 'publishing to $ topics needs a $ filter')

  // a token about to expire
  const exp = now() + 2
  const short = await connect5(t, port, { clientId: 'short', username: 's', password: await hs256({ pub: ['x/#'], sub_topics: ['x/#'] }, { exp }) }) as mqtt.MqttClient
  t.equal(await suback(short, 'x/#'), 1)
  const gotShort = inbox(short)
  await puback(admin, 'x/1', 'before')
  await until(() => gotShort.length === 1)
  await sleep(exp * 1000 - Date.now() + 150) // past exp
  await puback(admin, 'x/1', 'after')
  t.equal(await puback(short, 'x/2'), 0x87, 'publish refused after exp')
  t.equal(await suback(short, 'x/+'), 0x87, 'subscribe refused after exp')
  await sleep(100)
  t.same(gotShort, [['x/1', 'before']], 'no delivery after exp (per-delivery check)')
})
