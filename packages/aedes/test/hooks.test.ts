/**
 * Each Aedes hook and each of its error conventions, observed by real MQTT.js clients over
 * TCP: 3.1.1 CONNACK return codes, 5.0 reason codes, SUBACK codes, disconnections and the
 * errors emitted.
 */
import t from 'tap'
import type { AedesClient, HookError } from '../src/index.ts'
import { connect, nextMessage, refused, sleep, startBroker, subackCodes } from './helpers/index.ts'

function codeError (message: string, returnCode?: number): HookError {
  const e: HookError = new Error(message)
  if (returnCode !== undefined) e.returnCode = returnCode
  return e
}

t.test('authenticate', async (t) => {
  const seen: Array<{ username: string | undefined, password: string | undefined, id: string | null }> = []
  const errors: Error[] = []
  const { aedes, url } = await startBroker(t, {
    authenticate (client, username, password, callback) {
      seen.push({ username, password: password?.toString(), id: client.id })
      if (username === 'ok') return callback(null, true)
      if (username === 'false') return callback(null, false)
      if (username === 'throws') throw new Error('boom')
      const rc = username?.startsWith('rc') === true ? Number(username.slice(2)) : undefined
      callback(codeError('refused', rc), null)
    }
  })
  aedes.on('clientError', (_c, e) => { errors.push(e) })
  aedes.on('connectionError', (_c, e) => { errors.push(e) })

  await connect(t, url, { username: 'ok', password: 'secret', clientId: 'auth-ok' })
  t.same(seen[0], { username: 'ok', password: 'secret', id: 'auth-ok' }, 'username, password (Buffer) and client id reach the hook')

  for (const [username, v4, v5, what] of [
    ['plain', 4, 0x86, 'a plain error: bad user name or password, not 3 (server unavailable)'],
    ['false', 4, 0x86, 'callback(null, false)'],
    ['throws', 4, 0x86, 'a hook that throws'],
    ['rc2', 2, 0x85, 'err.returnCode 2: identifier rejected'],
    ['rc3', 3, 0x88, 'err.returnCode 3: server unavailable'],
    ['rc4', 4, 0x86, 'err.returnCode 4'],
    ['rc5', 5, 0x87, 'err.returnCode 5: not authorized'],
    ['rc9', 4, 0x86, 'an unknown err.returnCode counts as a plain error']
  ] as const) {
    const e4 = await refused(t, url, { username, protocolVersion: 4 })
    t.equal(e4.code, v4, `3.1.1 ${what}`)
    const e5 = await refused(t, url, { username, protocolVersion: 5 })
    t.equal(e5.code, v5, `5.0 ${what}`)
  }
  const own = errors.filter((e) => e.message === 'refused')
  // plain, rc2, rc3, rc4, rc5, rc9: each refused once over 3.1.1 and once over 5.0
  t.equal(own.length, 12, 'the hook\'s own error is emitted as clientError, once per refusal')
  t.equal((own[0] as HookError).errorCode, 4, 'with errorCode set to the return code, as Aedes does')
  const engine = errors.filter((e) => (e as { code?: string }).code === 'BROKER_ERR_NOT_AUTHORIZED')
  t.equal(engine.length, 2, 'the engine reports only the two callback(null, false) refusals: a hook error is not doubled')
})

t.test('preConnect', async (t) => {
  const connectionErrors: Error[] = []
  const { aedes, url } = await startBroker(t, {
    preConnect (_client, packet, callback) {
      if (packet.clientId === 'pre-error') return callback(new Error('connection error'), false)
      callback(null, packet.clientId !== 'pre-false')
    }
  })
  aedes.on('connectionError', (_c, e) => { connectionErrors.push(e) })
  await connect(t, url, { clientId: 'pre-ok' })
  t.pass('callback(null, true) lets the client in')

  const e4 = await refused(t, url, { clientId: 'pre-false' })
  t.equal(e4.code, 5, 'callback(null, false): 3.1.1 return code 5 (not authorized)')
  const e5 = await refused(t, url, { clientId: 'pre-false', protocolVersion: 5 })
  t.equal(e5.code, 0x87, 'callback(null, false): 5.0 0x87')

  const { default: mqtt } = await import('mqtt')
  const c = mqtt.connect(url, { clientId: 'pre-error', reconnectPeriod: 0 })
  t.teardown(() => { c.end(true) })
  let connack = false
  c.on('packetreceive', (p) => { if (p.cmd === 'connack') connack = true })
  await new Promise<void>((resolve) => c.once('close', () => resolve()))
  t.notOk(connack, 'an error closes the connection without CONNACK')
  t.ok(connectionErrors.some((e) => e.message === 'connection error'), 'and is emitted as connectionError')
})

t.test('authorizePublish', async (t) => {
  const seen: string[] = []
  const clientErrors: Error[] = []
  const { aedes, url } = await startBroker(t, {
    authorizePublish (client, packet, callback) {
      seen.push(`${client?.id ?? 'null'}:${packet.topic}`)
      if (packet.topic === 'deny') return callback(codeError('wrong topic'))
      if (packet.topic === 'quota') {
        const e = codeError('quota exceeded')
        e.reasonCode = 0x97
        return callback(e)
      }
      callback(null)
    }
  })
  aedes.on('clientError', (_c, e) => { clientErrors.push(e) })
  const sub = await connect(t, url, { clientId: 'ap-sub' })
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connect(t, url, { clientId: 'ap-pub' })
  const got = nextMessage(sub)
  await pub.publishAsync('allowed', 'x', { qos: 1 })
  t.equal((await got).topic, 'allowed', 'callback(null) lets it through')
  t.same(seen, ['ap-pub:allowed'], 'the hook sees the client and the packet')

  let leaked = false
  sub.on('message', (topic) => { if (topic === 'deny' || topic === 'quota') leaked = true })
  const closed = new Promise<void>((resolve) => pub.once('close', () => resolve()))
  pub.publish('deny', 'x', { qos: 1 })
  await closed
  t.ok(clientErrors.some((e) => e.message === 'wrong topic'), 'an error is emitted as clientError')
  t.pass('and the 3.1.1 publisher is disconnected (no negative ack in 3.1.1)')

  const pub5 = await connect(t, url, { clientId: 'ap-pub5', protocolVersion: 5 })
  const disconnect = new Promise<{ reasonCode?: number }>((resolve) => pub5.once('disconnect', resolve))
  pub5.publish('deny', 'x', { qos: 1 })
  t.equal((await disconnect).reasonCode, 0x87, '5.0: DISCONNECT 0x87 Not authorized')

  const pub5b = await connect(t, url, { clientId: 'ap-pub5b', protocolVersion: 5 })
  const disconnect2 = new Promise<{ reasonCode?: number }>((resolve) => pub5b.once('disconnect', resolve))
  pub5b.publish('quota', 'x', { qos: 0 })
  t.equal((await disconnect2).reasonCode, 0x97, '5.0: err.reasonCode chooses the DISCONNECT reason')
  await sleep(50)
  t.notOk(leaked, 'nothing refused reached the subscriber')
})

t.test('authorizeSubscribe', async (t) => {
  const clientErrors: Error[] = []
  const { aedes, url } = await startBroker(t, {
    authorizeSubscribe (_client, sub, callback) {
      if (sub.topic === 'error') return callback(codeError('wrong topic'))
      if (sub.topic === 'negate') return callback(null, null)
      if (sub.topic === 'lower') {
        sub.qos = 0
        return callback(null, sub)
      }
      if (sub.topic === 'rewrite') {
        sub.topic = 'foo'
        return callback(null, sub)
      }
      callback(null, sub)
    }
  })
  aedes.on('clientError', (_c, e) => { clientErrors.push(e) })
  const c4 = await connect(t, url, { clientId: 'as-4' })
  t.same(await subackCodes(c4, ['ok', 'negate', 'lower', 'rewrite'], 2), [2, 128, 0, 128],
    '3.1.1: granted, null = 128, lowered QoS granted, a changed topic refused')
  t.ok(clientErrors.some((e) => (e as { code?: string }).code === 'AEDES_ERR_SUBSCRIPTION_CHANGED'), 'the rewrite is reported')
  const c5 = await connect(t, url, { clientId: 'as-5', protocolVersion: 5 })
  t.same(await subackCodes(c5, ['ok', 'negate'], 1), [1, 0x87], '5.0: null = 0x87 Not authorized')

  let suback = false
  c4.on('packetreceive', (p) => { if (p.cmd === 'suback') suback = true })
  const closed = new Promise<void>((resolve) => c4.once('close', () => resolve()))
  c4.subscribe('error', () => {})
  await closed
  t.notOk(suback, 'an error closes the connection without SUBACK')
  t.ok(clientErrors.some((e) => e.message === 'wrong topic'), 'and is emitted as clientError')
})

t.test('authorizeForward', async (t) => {
  const { aedes, url } = await startBroker(t)
  aedes.authorizeForward = (client: AedesClient, packet) => {
    if (client.id === 'blind') return null
    if (packet.topic === 'rewrite') packet.payload = Buffer.from('changed')
    return packet
  }
  const blind = await connect(t, url, { clientId: 'blind' })
  const sees = await connect(t, url, { clientId: 'sees' })
  await blind.subscribeAsync('#')
  await sees.subscribeAsync('#')
  let blindGot = 0
  blind.on('message', () => { blindGot++ })
  const got = nextMessage(sees)
  await sees.publishAsync('rewrite', 'original', { qos: 1 })
  t.equal((await got).payload.toString(), 'changed', 'a changed packet is what is forwarded')
  const got2 = nextMessage(sees)
  await aedes.engine.publish({ topic: 'plain', payload: 'same' })
  t.equal((await got2).payload.toString(), 'same', 'an unchanged packet is forwarded as is')
  await sleep(50)
  t.equal(blindGot, 0, 'null skips that client only')
  aedes.authorizeForward = undefined
  const got3 = nextMessage(blind)
  await sees.publishAsync('rewrite', 'again')
  t.equal((await got3).payload.toString(), 'again', 'removing the hook at run time takes effect')
})

t.test('published', async (t) => {
  const seen: Array<{ topic: string, client: string | null }> = []
  const { aedes, url } = await startBroker(t, {
    published (packet, client, callback) {
      if (!packet.topic.startsWith('$SYS')) seen.push({ topic: packet.topic, client: client === null ? null : client.id })
      callback(null)
    }
  })
  const c = await connect(t, url, { clientId: 'pubd' })
  await c.publishAsync('from/client', 'x', { qos: 1 })
  await new Promise<void>((resolve, reject) => { aedes.publish({ topic: 'from/broker', payload: 'y' }, (err) => { if (err) reject(err); else resolve() }) })
  t.same(seen, [{ topic: 'from/client', client: 'pubd' }, { topic: 'from/broker', client: null }], 'called for client and broker messages')
})

t.test('user properties reach Aedes code as an object (a repeated name as an array), as mqtt-packet gives them', async (t) => {
  const seen: unknown[] = []
  const { aedes, url } = await startBroker(t, {
    authorizePublish (_client, packet, callback) {
      seen.push(packet.properties?.userProperties)
      callback(null)
    }
  })
  const published = new Promise<unknown>((resolve) => {
    aedes.on('publish', (packet) => { if (packet.topic === 'up') resolve(packet.properties?.userProperties) })
  })
  const pub = await connect(t, url, { clientId: 'up-pub', protocolVersion: 5 })
  await pub.publishAsync('up', 'x', { qos: 1, properties: { userProperties: { a: ['1', '2'], b: '3' } } })
  t.strictSame({ ...(seen[0] as object) }, { a: ['1', '2'], b: '3' }, 'authorizePublish')
  t.strictSame({ ...(await published as object) }, { a: ['1', '2'], b: '3' }, 'the publish event')
})
