/**
 * Aedes' events over the Culex engine, and the in-process API (subscribe, unsubscribe,
 * publish), with MQTT.js clients and raw sockets.
 */
import { connect as netConnect } from 'node:net'
import { encode } from '@culex/packet'
import t from 'tap'
import type { AedesClient, AedesPacket } from '../src/index.ts'
import { connect, nextMessage, sleep, startBroker, subackCodes } from './helpers/index.ts'

t.test('client, clientReady, subscribe, unsubscribe, publish, clientDisconnect', async (t) => {
  const { aedes, url } = await startBroker(t, {
    authorizeSubscribe: (_c, sub, cb) => { cb(null, sub.topic === 'no' ? null : sub) }
  })
  const order: string[] = []
  let ready: AedesClient | undefined
  aedes.on('client', (c) => { order.push(`client:${c.id}:${c.connected}`) })
  aedes.on('clientReady', (c) => { ready = c; order.push(`clientReady:${c.id}`) })
  aedes.on('subscribe', (subs, c) => { order.push(`subscribe:${c.id}:${JSON.stringify(subs)}`) })
  aedes.on('unsubscribe', (topics, c) => { order.push(`unsubscribe:${c.id}:${topics.join(',')}`) })
  const published: Array<{ packet: AedesPacket, client: string | null }> = []
  aedes.on('publish', (packet, c) => { if (!packet.topic.startsWith('$SYS')) published.push({ packet, client: c?.id ?? null }) })
  aedes.on('clientDisconnect', (c) => { order.push(`clientDisconnect:${c.id}:${c.closed}`) })

  const c = await connect(t, url, { clientId: 'ev', clean: false })
  t.equal(aedes.connectedClients, 1)
  t.equal(aedes.clients.ev, ready, 'aedes.clients lists the connected client')
  t.equal(ready?.clean, false, 'client.clean from CONNECT')
  t.equal(ready?.version, 4)
  t.ok(ready?.conn !== undefined, 'client.conn is the stream')
  t.same(await subackCodes(c, ['a/+', 'no'], 1), [1, 128])
  await c.unsubscribeAsync('a/+')
  await c.publishAsync('t/1', 'payload', { qos: 1, retain: true })
  await new Promise<void>((resolve) => { c.end(false, {}, () => resolve()) })
  await sleep(50)
  t.same(order, [
    'client:ev:true',
    'clientReady:ev',
    'subscribe:ev:[{"topic":"a/+","qos":1},{"topic":"no","qos":128}]',
    'unsubscribe:ev:a/+',
    'clientDisconnect:ev:true'
  ])
  t.equal(published.length, 1)
  const p = published[0]!
  t.match(p.packet, { cmd: 'publish', topic: 't/1', qos: 1, retain: true, brokerId: aedes.id, clientId: 'ev' })
  t.equal(p.packet.payload.toString(), 'payload')
  t.equal(p.client, 'ev')
  t.equal(aedes.connectedClients, 0)
})

t.test('connectionError, clientError and keepaliveTimeout', async (t) => {
  const { aedes, port } = await startBroker(t, { connectTimeout: 200 })
  const connectionErrors: Error[] = []
  const clientErrors: Error[] = []
  const timeouts: Array<string | null> = []
  aedes.on('connectionError', (_c, e) => { connectionErrors.push(e) })
  aedes.on('clientError', (_c, e) => { clientErrors.push(e) })
  aedes.on('keepaliveTimeout', (c) => { timeouts.push(c.id) })

  // garbage before CONNECT: a connection error
  const bad = netConnect(port, '127.0.0.1')
  bad.on('error', () => {})
  bad.resume() // read, so the broker's FIN is seen
  bad.write(Buffer.from([0x30, 0x02, 0x00, 0x00]))
  await new Promise((resolve) => bad.once('close', resolve))
  t.equal(connectionErrors.length, 1, 'a PUBLISH before CONNECT is a connectionError')
  t.equal(clientErrors.length, 0, 'not a clientError')

  // nothing at all: the connect timeout
  const idle = netConnect(port, '127.0.0.1')
  idle.on('error', () => {})
  idle.resume() // read, so the broker's FIN is seen
  await new Promise((resolve) => idle.once('close', resolve))
  t.ok(connectionErrors.some((e) => (e as { code?: string }).code === 'BROKER_ERR_CONNECT_TIMEOUT'), 'no CONNECT in time is a connectionError')

  // CONNECT with keepalive 1 s, then silence
  const ka = netConnect(port, '127.0.0.1')
  ka.on('error', () => {})
  ka.resume() // read, so the broker's FIN is seen
  ka.write(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'ka', keepalive: 1 } as Parameters<typeof encode>[0], 4))
  await new Promise((resolve) => ka.once('close', resolve))
  t.same(timeouts, ['ka'], 'keepaliveTimeout')
  t.ok(clientErrors.some((e) => (e as { code?: string }).code === 'BROKER_ERR_KEEPALIVE_TIMEOUT'), 'followed by clientError')
})

t.test('in-process subscribe / unsubscribe / publish', async (t) => {
  const { aedes, url } = await startBroker(t)
  const got: string[] = []
  const fn = (packet: AedesPacket, cb: () => void): void => {
    got.push(`${packet.topic}=${packet.payload.toString()}`)
    cb()
  }
  await new Promise<void>((resolve, reject) => { aedes.subscribe('in/+/x', fn, (err) => { if (err) reject(err); else resolve() }) })
  const all: string[] = []
  const hash = (packet: AedesPacket, cb: () => void): void => { all.push(packet.topic); cb() }
  aedes.subscribe('#', hash)

  const c = await connect(t, url)
  await c.subscribeAsync('in/#', { qos: 1 })
  await c.publishAsync('in/a/x', 'from client', { qos: 1 })
  const msg = nextMessage(c)
  await new Promise<void>((resolve, reject) => { aedes.publish({ topic: 'in/b/x', payload: 'from broker', qos: 1 }, (err) => { if (err) reject(err); else resolve() }) })
  t.equal((await msg).payload.toString(), 'from broker', 'aedes.publish reaches MQTT subscribers')
  t.same(got, ['in/a/x=from client', 'in/b/x=from broker'], 'the deliver function gets client and broker messages')
  t.same(all, ['in/a/x', 'in/b/x'], '# gets both messages and no $SYS topic [MQTT-4.7.2-1]')

  await new Promise<void>((resolve) => { aedes.unsubscribe('in/+/x', fn, () => resolve()) })
  await c.publishAsync('in/c/x', 'after', { qos: 1 })
  t.equal(got.length, 2, 'nothing after unsubscribe')

  const err = await new Promise<Error | null | undefined>((resolve) => { aedes.subscribe('bad/#/x', fn, resolve) })
  t.equal((err as { code?: string }).code, 'AEDES_ERR_TOPIC', 'an invalid filter calls back with an error')
  const perr = await new Promise<Error | null | undefined>((resolve) => { aedes.publish({ topic: 'bad/+' }, resolve) })
  t.equal((perr as { code?: string }).code, 'BROKER_ERR_TOPIC_INVALID', 'an invalid topic calls back with an error')
})

t.test('options Culex cannot honour are refused with a clear error', async (t) => {
  const { Aedes } = await import('../src/index.ts')
  t.throws(() => new Aedes({ mq: {} as never }), { code: 'AEDES_ERR_OPTION', message: /mq: .*Bus/ })
  t.throws(() => new Aedes({ persistence: { storeRetained () {}, setup () {} } as never }), { code: 'AEDES_ERR_OPTION', message: /aedes-persistence/ })
  t.throws(() => new Aedes({ trustProxy: true as never }), { code: 'AEDES_ERR_OPTION' })
  const client = (await startBroker(t)).aedes
  t.equal(typeof client.version, 'string')
})

t.test('the client view: fields, close(cb), unsupported client methods', async (t) => {
  const { aedes, url } = await startBroker(t)
  const { isAedesError } = await import('../src/index.ts')
  const ready = new Promise<AedesClient>((resolve) => aedes.once('clientReady', resolve))
  const c = await connect(t, url, { clientId: 'view', username: 'u', keepalive: 30 })
  const w = await ready
  t.equal(w.username, 'u')
  t.equal(w.keepalive, 30)
  t.equal(w.engineClient.id, 'view')
  t.equal(w.broker, aedes)
  for (const m of ['publish', 'subscribe', 'unsubscribe'] as const) {
    const err = await new Promise<Error | undefined>((resolve) => { w[m]({}, resolve) })
    t.ok(isAedesError(err) && err.code === 'AEDES_ERR_UNSUPPORTED', `client.${m} calls back AEDES_ERR_UNSUPPORTED`)
  }
  const err = await new Promise<Error | undefined>((resolve) => { w.emptyOutgoingQueue(resolve) })
  t.ok(isAedesError(err), 'emptyOutgoingQueue too')
  t.throws(() => { w.publish({}) }, { code: 'AEDES_ERR_UNSUPPORTED' }, 'without a callback it throws')
  t.notOk(isAedesError(new Error('x')))
  const gone = new Promise<void>((resolve) => c.once('close', () => resolve()))
  await new Promise<void>((resolve) => { w.close(resolve) })
  await gone
  t.equal(w.closed, true, 'close(cb) calls back once the stream is closed')
  await new Promise<void>((resolve) => { w.close(resolve) })
  t.pass('close(cb) on a closed client calls back')
  await new Promise<void>((resolve) => { aedes.close(() => resolve()) })
  await new Promise<void>((resolve) => { aedes.close(() => resolve()) })
  t.equal(aedes.closed, true, 'close twice calls back twice')
})

t.test('the engine publish event is listened to only while something needs it', async (t) => {
  const { aedes } = await startBroker(t)
  const count = (): number => aedes.engine.listenerCount('publish')
  t.equal(count(), 0, 'no publish listener, no published hook, no in-process subscription')
  const fn = (): void => {}
  aedes.on('publish', fn)
  t.equal(count(), 1, 'a publish listener')
  aedes.removeListener('publish', fn)
  t.equal(count(), 0)
  const deliver = (_p: AedesPacket, cb: () => void): void => { cb() }
  aedes.subscribe('x', deliver)
  t.equal(count(), 1, 'an in-process subscription')
  aedes.unsubscribe('x', deliver)
  t.equal(count(), 0)
  aedes.published = (_p, _c, cb) => { cb() }
  t.equal(count(), 1, 'a published hook')
  aedes.published = undefined
  t.equal(count(), 0)
})
