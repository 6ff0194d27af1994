/**
 * Protocol edge cases against a scripted peer (see helpers/scripted.ts): refusals, failure
 * reason codes, Receive Maximum, topic aliases, keepalive, enhanced auth, server DISCONNECT,
 * limits, the offline queue and argument validation.
 */
import t from 'tap'
import { Parser, type Packet, type PublishPacket, type UserPropertyPairs } from '@culex/packet'
import { Client, ClientError, connect, isClientError, type ClientOptions } from '../src/index.ts'
import { accept, scripted } from './helpers/scripted.ts'
import { until } from './helpers/suite.ts'

const make = (t: { teardown: (fn: () => unknown) => void }, url: string, opts: Partial<ClientOptions> = {}): Client => {
  const c = new Client({ url, reconnect: false, connectTimeout: 3000, ...opts })
  t.teardown(() => c.end({ force: true }))
  return c
}

const code = (err: unknown): string | undefined => isClientError(err) ? err.code : undefined

t.test('a refused CONNACK rejects connect with the reason code (5.0 and 3.1.1)', async (t) => {
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd !== 'connect') return
    if (peer.version === 5) peer.send({ cmd: 'connack', sessionPresent: false, reasonCode: 0x86, properties: { reasonString: 'wrong password' } })
    else peer.send({ cmd: 'connack', sessionPresent: false, returnCode: 5 })
  })
  const c5 = make(t, url, { protocolVersion: 5 })
  const e5 = await c5.connect().catch((e: unknown) => e) as ClientError
  t.equal(e5.code, 'CLIENT_ERR_CONNACK_REFUSED')
  t.equal(e5.reasonCode, 0x86)
  t.equal(e5.reasonString, 'wrong password')
  t.match(e5.message, /0x86 \(Bad User Name or Password\): wrong password/)
  t.ok(c5.closed, 'the client is closed after a refused first connect')
  t.equal(code(await c5.publish('a', 'x').catch((e: unknown) => e)), 'CLIENT_ERR_CLIENT_CLOSED')
  t.equal(code(await c5.connect().catch((e: unknown) => e)), 'CLIENT_ERR_CONNACK_REFUSED', 'connect() again returns the same outcome')
  const e4 = await connect(url, { protocolVersion: 4, reconnect: false }).catch((e: unknown) => e) as ClientError
  t.equal(e4.code, 'CLIENT_ERR_CONNACK_REFUSED')
  t.equal(e4.reasonCode, 0x87, '3.1.1 return code 5 maps to 0x87 Not authorized')
})

t.test('PUBACK / PUBREC failure reason codes reject publish with a typed error', async (t) => {
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') accept(peer)
    if (p.cmd === 'publish' && p.qos === 1) peer.send({ cmd: 'puback', messageId: p.messageId!, reasonCode: 0x87, properties: { reasonString: 'acl' } })
    if (p.cmd === 'publish' && p.qos === 2) peer.send({ cmd: 'pubrec', messageId: p.messageId!, reasonCode: 0x97 })
  })
  const c = make(t, url)
  await c.connect()
  const e1 = await c.publish('a', 'x', { qos: 1 }).catch((e: unknown) => e) as ClientError
  t.equal(e1.code, 'CLIENT_ERR_PUBLISH_FAILED')
  t.equal(e1.reasonCode, 0x87)
  t.equal(e1.reasonString, 'acl')
  const e2 = await c.publish('a', 'x', { qos: 2 }).catch((e: unknown) => e) as ClientError
  t.equal(e2.code, 'CLIENT_ERR_PUBLISH_FAILED')
  t.equal(e2.reasonCode, 0x97)
  t.equal(c.inflightCount, 0, 'failed flows free their packet ids')
})

t.test('Receive Maximum is respected and packet ids are never reused while inflight', async (t) => {
  let unacked = new Set<number>()
  let maxUnacked = 0
  let reused = 0
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') accept(peer, { receiveMaximum: 2 })
    if (p.cmd === 'publish') {
      if (unacked.has(p.messageId!)) reused++
      unacked.add(p.messageId!)
      maxUnacked = Math.max(maxUnacked, unacked.size)
      setTimeout(() => {
        unacked = new Set([...unacked].filter((id) => id !== p.messageId))
        peer.send({ cmd: 'puback', messageId: p.messageId!, reasonCode: 0x10 })
      }, 2)
    }
  })
  const c = make(t, url)
  await c.connect()
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.publish('rm', String(i), { qos: 1 })))
  t.equal(maxUnacked, 2, 'never more than the server Receive Maximum unacknowledged')
  t.equal(reused, 0, 'no id reused while inflight')
  t.same(results.map((r) => r?.reasonCode), Array(20).fill(0x10), 'each publish resolves with its PUBACK reason')
  t.equal(c.queuedCount, 0)
})

t.test('outbound topic aliases are assigned within the server maximum; inbound aliases resolve', async (t) => {
  const seen: PublishPacket[] = []
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') {
      accept(peer, { topicAliasMaximum: 1 })
      peer.send({ cmd: 'publish', topic: 'in/x', payload: Buffer.from('1'), qos: 0, dup: false, retain: false, properties: { topicAlias: 3 } })
      peer.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 0, dup: false, retain: false, properties: { topicAlias: 3 } })
    }
    if (p.cmd === 'publish') seen.push(p)
  })
  const c = make(t, url, { properties: { topicAliasMaximum: 5 } })
  const got: string[] = []
  c.on('message', (m) => got.push(`${m.topic}:${m.payload.toString()}`))
  await c.connect()
  await c.publish('out/a', '1')
  await c.publish('out/a', '2')
  await c.publish('out/b', '3')
  await until(() => seen.length === 3 && got.length === 2, 2000, 'the publishes')
  t.same(seen.map((p) => [p.topic, p.properties?.topicAlias]), [['out/a', 1], ['', 1], ['out/b', undefined]])
  t.same(got, ['in/x:1', 'in/x:2'])
})

t.test('an unknown inbound topic alias is a protocol error (DISCONNECT 0x94 / 0x82)', async (t) => {
  let disconnect: Packet | undefined
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') {
      accept(peer)
      peer.send({ cmd: 'publish', topic: 'x', payload: Buffer.from('1'), qos: 0, dup: false, retain: false, properties: { topicAlias: 9 } })
    }
    if (p.cmd === 'disconnect') disconnect = p
  })
  const c = make(t, url, { properties: { topicAliasMaximum: 2 } })
  const err = new Promise<Error>((resolve) => c.once('error', resolve))
  await c.connect()
  const e = await err as ClientError
  t.equal(e.code, 'CLIENT_ERR_PROTOCOL')
  t.equal(e.reasonCode, 0x94)
  await until(() => disconnect !== undefined, 1000, 'DISCONNECT')
  t.equal((disconnect as { reasonCode?: number }).reasonCode, 0x94)

  const { url: url2 } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') {
      accept(peer)
      peer.send({ cmd: 'publish', topic: '', payload: Buffer.from('1'), qos: 0, dup: false, retain: false, properties: { topicAlias: 1 } })
    }
  })
  const c2 = make(t, url2, { properties: { topicAliasMaximum: 2 } })
  const err2 = new Promise<Error>((resolve) => c2.once('error', resolve))
  await c2.connect()
  t.equal((await err2 as ClientError).reasonCode, 0x82, 'alias used before it was set')
})

t.test('keepalive: PINGREQ when idle; a missing PINGRESP closes the connection', async (t) => {
  let pings = 0
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') accept(peer)
    if (p.cmd === 'pingreq') pings++ // never answered
  })
  const c = make(t, url, { keepalive: 1 })
  const err = new Promise<Error>((resolve) => c.once('error', resolve))
  await c.connect()
  const e = await err as ClientError
  t.equal(pings, 1)
  t.equal(e.code, 'CLIENT_ERR_KEEPALIVE_TIMEOUT')
  t.equal(e.reasonCode, 0x8d)
})

t.test('keepalive: answered pings keep the connection; server keep alive overrides', async (t) => {
  let pings = 0
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') accept(peer, { serverKeepAlive: 1, assignedClientIdentifier: 'given-id' })
    if (p.cmd === 'pingreq') { pings++; peer.send({ cmd: 'pingresp' }) }
  })
  const c = make(t, url, { keepalive: 60, clientId: '' })
  await c.connect()
  t.equal(c.clientId, 'given-id', 'server-assigned client id adopted')
  await until(() => pings >= 2, 4000, 'two pings')
  t.ok(c.connected, 'still connected')
})

t.test('enhanced authentication: the onAuth hook answers AUTH challenges', async (t) => {
  let answer: Packet | undefined
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') {
      peer.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'DEMO', authenticationData: Buffer.from('challenge') } })
    }
    if (p.cmd === 'auth') {
      answer = p
      if (p.properties?.authenticationData?.toString() === 'challenge-response') accept(peer, { authenticationMethod: 'DEMO' })
      else peer.send({ cmd: 'connack', sessionPresent: false, reasonCode: 0x8c })
    }
  })
  const c = make(t, url, {
    properties: { authenticationMethod: 'DEMO', authenticationData: Buffer.from('hello') },
    onAuth: async (p) => Buffer.from(p.properties!.authenticationData!.toString() + '-response')
  })
  await c.connect()
  t.equal((answer as { reasonCode?: number }).reasonCode, 0x18)
  t.equal((answer as { properties?: { authenticationMethod?: string } }).properties?.authenticationMethod, 'DEMO')
  c.reauthenticate(Buffer.from('again'))
  await until(() => (answer as { reasonCode?: number }).reasonCode === 0x19, 1000, 're-authentication AUTH')
  t.pass('reauthenticate sends AUTH 0x19')

  const noHook = make(t, url, { properties: { authenticationMethod: 'DEMO' } })
  t.equal(code(await noHook.connect().catch((e: unknown) => e)), 'CLIENT_ERR_AUTH', 'no hook: CLIENT_ERR_AUTH')
  const failing = make(t, url, { properties: { authenticationMethod: 'DEMO' }, onAuth: () => { throw new Error('nope') } })
  t.equal(code(await failing.connect().catch((e: unknown) => e)), 'CLIENT_ERR_AUTH', 'throwing hook: CLIENT_ERR_AUTH')
  const v4 = make(t, url, { protocolVersion: 4 })
  t.throws(() => v4.reauthenticate(Buffer.from('x')), { code: 'CLIENT_ERR_NOT_SUPPORTED' })
  t.throws(() => noHook.reauthenticate(Buffer.from('x')), { code: 'CLIENT_ERR_CONNECTION_LOST' })
})

t.test('server DISCONNECT is reported with its reason; the client reconnects and resends', async (t) => {
  let connects = 0
  let dupSeen = false
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') {
      connects++
      accept(peer, {}, connects > 1)
    }
    if (p.cmd === 'publish') {
      if (connects === 1) peer.send({ cmd: 'disconnect', reasonCode: 0x8b, properties: { reasonString: 'bye' } })
      else {
        dupSeen = p.dup
        peer.send({ cmd: 'puback', messageId: p.messageId! })
      }
    }
  })
  const c = make(t, url, { reconnect: { initialDelay: 10, maxDelay: 50 } })
  const disc = new Promise<{ reasonCode: number }>((resolve) => c.once('disconnect', resolve))
  const errs: ClientError[] = []
  c.on('error', (e) => errs.push(e as ClientError))
  let offline = 0
  c.on('offline', () => offline++)
  await c.connect()
  const r = await c.publish('a', 'x', { qos: 1 })
  t.equal((await disc).reasonCode, 0x8b)
  t.equal(errs[0]?.code, 'CLIENT_ERR_SERVER_DISCONNECT')
  t.equal(errs[0]?.reasonString, 'bye')
  t.equal(offline, 1)
  t.equal(r?.reasonCode, 0, 'the publish completed after the reconnect')
  t.ok(dupSeen, 'resent with DUP')
})

t.test('server limits: Maximum Packet Size, Maximum QoS, Retain Available', async (t) => {
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') accept(peer, { maximumPacketSize: 64, maximumQoS: 1, retainAvailable: false })
    if (p.cmd === 'publish' && p.qos === 1) peer.send({ cmd: 'puback', messageId: p.messageId! })
  })
  const c = make(t, url)
  await c.connect()
  const big = await c.publish('a', Buffer.alloc(100)).catch((e: unknown) => e) as ClientError
  t.equal(big.code, 'CLIENT_ERR_PACKET_TOO_LARGE')
  t.equal(big.reasonCode, 0x95)
  t.equal(code(await c.publish('a', 'x', { qos: 2 }).catch((e: unknown) => e)), 'CLIENT_ERR_NOT_SUPPORTED')
  t.equal(code(await c.publish('a', 'x', { retain: true }).catch((e: unknown) => e)), 'CLIENT_ERR_NOT_SUPPORTED')
  t.same(await c.publish('a', new Uint8Array([1, 2]), { qos: 1 }), { reasonCode: 0 })
})

t.test('offline queue: bounded while disconnected, flushed in order on connect', async (t) => {
  const got: string[] = []
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') accept(peer)
    if (p.cmd === 'publish') {
      got.push(p.payload.toString())
      if (p.qos === 1) peer.send({ cmd: 'puback', messageId: p.messageId! })
    }
    if (p.cmd === 'subscribe') peer.send({ cmd: 'suback', messageId: p.messageId, granted: [0x80] })
    if (p.cmd === 'unsubscribe') peer.send({ cmd: 'unsuback', messageId: p.messageId, granted: [0x11] })
  })
  const c = make(t, url, { offlineQueueLimit: 4 })
  const queued = [c.publish('q', '1'), c.publish('q', '2', { qos: 1 }), c.subscribe('s/#'), c.unsubscribe('s/#')]
  t.equal(c.queuedCount, 4)
  t.equal(code(await c.publish('q', '3').catch((e: unknown) => e)), 'CLIENT_ERR_QUEUE_FULL')
  await c.connect()
  const [r0, r1, sub, unsub] = await Promise.all(queued)
  t.equal(r0, undefined)
  t.same(r1, { reasonCode: 0 })
  t.same((sub as { granted: unknown }).granted, [{ topic: 's/#', qos: 0x80 }], 'failure code reported, not thrown')
  t.same(unsub, [0x11])
  t.same(got, ['1', '2'])
})

t.test('end(): pending operations reject, streams end, later calls fail', async (t) => {
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') accept(peer)
    if (p.cmd === 'subscribe') peer.send({ cmd: 'suback', messageId: p.messageId, granted: [1] })
  })
  const c = make(t, url)
  await c.connect()
  const sub = await c.subscribe('x/#', { qos: 1 })
  const stream = c.messages('y')
  const pending = c.publish('a', 'x', { qos: 1 }).catch((e: unknown) => e)
  let ended = 0
  c.on('end', () => ended++)
  await c.end({ reasonCode: 0, properties: { reasonString: 'done' } })
  await c.end()
  t.equal(code(await pending), 'CLIENT_ERR_CLIENT_CLOSED')
  t.ok(sub.closed && stream.closed, 'streams closed')
  t.equal(ended, 1)
  t.notOk(c.connected)
  t.equal(code(await c.connect().catch((e: unknown) => e)), 'CLIENT_ERR_CLIENT_CLOSED')
  t.equal(code(await c.subscribe('z').catch((e: unknown) => e)), 'CLIENT_ERR_CLIENT_CLOSED')
})

t.test('connect failures: timeout without CONNACK, refused socket', async (t) => {
  const { url } = await scripted(t, () => {})
  const c = make(t, url, { connectTimeout: 100 })
  t.equal(code(await c.connect().catch((e: unknown) => e)), 'CLIENT_ERR_CONNECT_TIMEOUT')
  const dead = make(t, 'mqtt://127.0.0.1:1')
  t.equal(code(await dead.connect().catch((e: unknown) => e)), 'CLIENT_ERR_TRANSPORT')
  const bad = make(t, 'http://127.0.0.1:1')
  t.equal(code(await bad.connect().catch((e: unknown) => e)), 'CLIENT_ERR_INVALID_OPTION')
})

t.test('argument validation', async (t) => {
  t.throws(() => new Client({}), { code: 'CLIENT_ERR_INVALID_OPTION' })
  t.throws(() => new Client({ url: 'not a url' }), { code: 'CLIENT_ERR_INVALID_OPTION' })
  t.throws(() => new Client({ url: 'mqtt://x', protocolVersion: 3 as 4 }), { code: 'CLIENT_ERR_INVALID_OPTION' })
  t.throws(() => new Client({ url: 'mqtt://x', keepalive: -1 }), { code: 'CLIENT_ERR_INVALID_OPTION' })
  const c = new Client({ url: 'mqtt://127.0.0.1:1', reconnect: false })
  t.equal(c.protocolVersion, 5)
  t.match(c.clientId, /^culex_[0-9a-f]{16}$/)
  const rej = async (p: Promise<unknown>): Promise<string | undefined> => code(await p.catch((e: unknown) => e))
  t.equal(await rej(c.publish('a/+', 'x')), 'CLIENT_ERR_INVALID_TOPIC')
  t.equal(await rej(c.publish('a', 'x', { qos: 3 as 1 })), 'CLIENT_ERR_INVALID_OPTION')
  t.equal(await rej(c.publish('a', 5 as unknown as string)), 'CLIENT_ERR_INVALID_OPTION')
  t.equal(await rej(c.subscribe('a/#/b')), 'CLIENT_ERR_INVALID_TOPIC')
  t.equal(await rej(c.subscribe([])), 'CLIENT_ERR_INVALID_TOPIC')
  t.equal(await rej(c.subscribe('a', { qos: 7 as 1 })), 'CLIENT_ERR_INVALID_OPTION')
  t.equal(await rej(c.unsubscribe([])), 'CLIENT_ERR_INVALID_TOPIC')
  t.equal(await rej(c.unsubscribe('a+')), 'CLIENT_ERR_INVALID_TOPIC')
  t.throws(() => c.messages('a#'), { code: 'CLIENT_ERR_INVALID_TOPIC' })
  await c.end()
})

t.test('incoming QoS 1 and 2: acknowledged, QoS 2 delivered once even when resent', async (t) => {
  const acks: string[] = []
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') {
      accept(peer)
      const m = (qos: 1 | 2, id: number, dup: boolean): Packet => ({ cmd: 'publish', topic: 'in', payload: Buffer.from(`${qos}-${id}`), qos, dup, retain: false, messageId: id })
      peer.send(m(1, 1, false))
      peer.send(m(2, 2, false))
      peer.send(m(2, 2, true))
      peer.send({ cmd: 'pubrel', messageId: 2 })
      peer.send({ cmd: 'puback', messageId: 999 }) // unknown ids are ignored
      peer.send({ cmd: 'pubrec', messageId: 998 })
    }
    if (p.cmd === 'puback' || p.cmd === 'pubrec' || p.cmd === 'pubcomp' || p.cmd === 'pubrel') acks.push(`${p.cmd}:${p.messageId}`)
  })
  const c = make(t, url)
  const got: string[] = []
  c.on('message', (m) => got.push(m.payload.toString()))
  await c.connect()
  await until(() => acks.length === 5, 2000, 'acknowledgements')
  t.same(got, ['1-1', '2-2'], 'QoS 2 resend not delivered twice')
  t.same(acks, ['puback:1', 'pubrec:2', 'pubrec:2', 'pubcomp:2', 'pubrel:998'])
})

t.test('after a reconnect, resends of unacknowledged publishes respect the new Receive Maximum', async (t) => {
  let connects = 0
  let unacked = 0
  let maxUnacked = 0
  const firstIds: number[] = []
  const resentIds: number[] = []
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') {
      connects++
      accept(peer, { receiveMaximum: connects === 1 ? 10 : 2 }, connects > 1)
    }
    if (p.cmd === 'publish' && connects === 1) {
      firstIds.push(p.messageId!)
      if (firstIds.length === 6) peer.socket.destroy() // never acknowledged
    }
    if (p.cmd === 'publish' && connects > 1) {
      t.ok(p.dup, `id ${p.messageId} resent with DUP`)
      resentIds.push(p.messageId!)
      unacked++
      maxUnacked = Math.max(maxUnacked, unacked)
      setTimeout(() => { unacked--; peer.send({ cmd: 'puback', messageId: p.messageId! }) }, 2)
    }
  })
  const c = make(t, url, { reconnect: { initialDelay: 10, maxDelay: 50 } })
  await c.connect()
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => c.publish('r', String(i), { qos: 1 })))
  t.equal(results.length, 6, 'all six complete')
  t.same(resentIds, firstIds, 'same ids, same order')
  t.equal(maxUnacked, 2, 'never more than the new Receive Maximum unacknowledged')
})

t.test('options the encoder rejects fail the call instead of throwing from a socket callback', async (t) => {
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') accept(peer)
  })
  const bad = make(t, url, { properties: { receiveMaximum: 0 } })
  const e = await bad.connect().catch((err: unknown) => err) as ClientError
  t.equal(e.code, 'CLIENT_ERR_INVALID_OPTION')
  t.match(e.message, /CONNECT/)
  const c = make(t, url)
  await c.connect()
  const s = await c.subscribe('a', { properties: { subscriptionIdentifier: 0 } }).catch((err: unknown) => err) as ClientError
  t.equal(s.code, 'CLIENT_ERR_INVALID_OPTION')
  t.ok(c.connected, 'the connection stays usable')
})

t.test('handleMessage: PUBACK / PUBREC wait for the hook and go out in arrival order', async (t) => {
  const acks: string[] = []
  const pub = (id: number, qos: 1 | 2): Packet => ({ cmd: 'publish', topic: `h/${id}`, payload: Buffer.from(String(id)), qos, dup: false, retain: false, messageId: id })
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') { accept(peer); peer.send(pub(1, 1)); peer.send(pub(2, 1)); peer.send(pub(3, 2)) }
    if (p.cmd === 'puback' || p.cmd === 'pubrec') acks.push(`${p.cmd}:${p.messageId}`)
  })
  const release = new Map<number, () => void>()
  const seen: string[] = []
  const c = make(t, url, { handleMessage: (m) => new Promise<void>((resolve) => release.set(Number(m.payload.toString()), resolve)) })
  c.on('message', (m) => seen.push(m.topic))
  await c.connect()
  await until(() => release.size === 3, 2000, 'three messages handed to the hook')
  t.same(seen, ['h/1', 'h/2', 'h/3'], 'the message event still fires')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(acks, [], 'nothing acknowledged before the hook resolved')
  release.get(2)!()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(acks, [], 'message 2 waits for message 1 (acknowledgements in arrival order)')
  release.get(1)!()
  await until(() => acks.length === 2, 2000, 'two PUBACKs')
  t.same(acks, ['puback:1', 'puback:2'])
  release.get(3)!()
  await until(() => acks.length === 3, 2000, 'the PUBREC')
  t.equal(acks[2], 'pubrec:3', 'QoS 2: PUBREC once the hook resolved')
})

t.test('handleMessage: a rejecting hook acknowledges nothing and drops the connection; the resend is acknowledged', async (t) => {
  const acks: string[] = []
  let connects = 0
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') {
      connects++
      accept(peer, {}, connects > 1)
      peer.send({ cmd: 'publish', topic: 'h/4', payload: Buffer.from('4'), qos: 1, dup: connects > 1, retain: false, messageId: 4 })
    }
    if (p.cmd === 'puback') acks.push(`${connects}:${p.messageId}`)
  })
  let calls = 0
  const c = make(t, url, {
    reconnect: { initialDelay: 10, maxDelay: 10, factor: 1, jitter: 0 },
    handleMessage: async () => { if (++calls === 1) throw new Error('store down') }
  })
  c.on('error', () => {})
  await c.connect()
  await until(() => acks.length === 1, 3000, 'the PUBACK of the resend')
  t.equal(connects, 2, 'the failure dropped the connection and the client reconnected')
  t.equal(calls, 2, 'the hook saw the message twice')
  t.same(acks, ['2:4'], 'only the resend on the second connection was acknowledged')
})

t.test('user properties keep their order both ways (pairs by default; object on request)', async (t) => {
  const UP: UserPropertyPairs = [['2', 'a'], ['k', 'b'], ['10', 'c'], ['1', 'd'], ['k', 'e']]
  const sent: unknown[] = []
  const { url } = await scripted(t, (peer, p) => {
    if (p.cmd === 'connect') {
      // the wire order of what the client sends, read as pairs
      const parser = new Parser({ protocolVersion: 5, userProperties: 'pairs', onPacket: (q) => { if (q.cmd === 'publish') sent.push(q.properties?.userProperties) } })
      peer.socket.on('data', (d: Buffer) => parser.parse(d))
      accept(peer)
      peer.send({ cmd: 'publish', topic: 'in', payload: Buffer.from('1'), qos: 0, dup: false, retain: false, properties: { userProperties: UP } })
    }
    if (p.cmd === 'publish' && p.qos === 1) peer.send({ cmd: 'puback', messageId: p.messageId!, reasonCode: 0x10, properties: { userProperties: UP } })
  })
  const c = make(t, url)
  const got: unknown[] = []
  c.on('message', (m) => got.push(m.properties?.userProperties))
  await c.connect()
  const res = await c.publish('out', 'x', { qos: 1, properties: { userProperties: UP } })
  await until(() => got.length === 1 && sent.length === 1, 2000, 'the message both ways')
  t.strictSame(got, [UP], 'received in the server\'s order')
  t.strictSame(res?.userProperties, UP, 'PUBACK user properties in order')
  t.strictSame(sent, [UP], 'sent in the given order')

  const o = make(t, url, { userProperties: 'object' })
  const gotObj: unknown[] = []
  o.on('message', (m) => gotObj.push(m.properties?.userProperties))
  await o.connect()
  await until(() => gotObj.length === 1, 2000, 'the message')
  t.same(gotObj, [{ 1: 'd', 2: 'a', 10: 'c', k: ['b', 'e'] }], 'the object shape on request')
  t.throws(() => new Client({ url, userProperties: 'map' as 'pairs' }), { code: 'CLIENT_ERR_INVALID_OPTION' })
})
