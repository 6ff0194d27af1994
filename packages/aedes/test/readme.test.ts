/**
 * The examples of Aedes' README and docs (docs/Examples.md, docs/Aedes.md), ported with
 * only the import changed from 'aedes' to '@culex/aedes' and fixed ports replaced by free
 * ones, run against the Culex engine with MQTT.js clients.
 */
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import mqtt from 'mqtt'
import t, { type Test } from 'tap'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { Aedes } from '../src/index.ts'
import { connect, makeCert, nextMessage, subackCodes } from './helpers/index.ts'

const port = 0

async function pingPong (t: Test, url: string, opts: mqtt.IClientOptions = {}): Promise<void> {
  const a = await connect(t, url, opts)
  const b = await connect(t, url, opts)
  await a.subscribeAsync('readme/#', { qos: 1 })
  const got = nextMessage(a)
  await b.publishAsync('readme/x', 'hello', { qos: 1 })
  const m = await got
  t.equal(m.topic, 'readme/x')
  t.equal(m.payload.toString(), 'hello')
}

t.test('Simple plain MQTT server', async (t) => {
  const aedes = await Aedes.createBroker()
  const server = createServer(aedes.handle)
  await new Promise<void>((resolve) => {
    server.listen(port, function () {
      resolve()
    })
  })
  t.teardown(() => new Promise<void>((resolve) => { aedes.close(() => server.close(() => resolve())) }))
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
  await pingPong(t, url)
  t.equal(aedes.connectedClients, 2)
  t.equal(aedes.closed, false)
})

t.test('MQTT over TLS / MQTTS', async (t) => {
  const files = makeCert()
  const options = {
    key: readFileSync(files.key),
    cert: readFileSync(files.cert)
  }
  const aedes = await Aedes.createBroker()
  const server = createTlsServer(options, aedes.handle)
  await new Promise<void>((resolve) => { server.listen(port, resolve) })
  t.teardown(() => new Promise<void>((resolve) => { aedes.close(() => server.close(() => resolve())) }))
  const url = `mqtts://127.0.0.1:${(server.address() as AddressInfo).port}`
  await pingPong(t, url, { ca: readFileSync(files.cert) })
})

t.test('MQTT server over WebSocket', async (t) => {
  const aedes = await Aedes.createBroker()
  const httpServer = createHttpServer()
  const wss = new WebSocketServer({
    server: httpServer
  })
  wss.on('connection', (websocket, req) => {
    const stream = createWebSocketStream(websocket)
    aedes.handle(stream, req)
  })
  await new Promise<void>((resolve) => { httpServer.listen(port, resolve) })
  t.teardown(() => new Promise<void>((resolve) => { aedes.close(() => { wss.close(); httpServer.close(() => resolve()) }) }))
  const url = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}`
  let transport: string | undefined
  aedes.once('client', (client) => { transport = client.engineClient.info.transport })
  await pingPong(t, url)
  t.equal(transport, 'ws', 'the request marks the connection as WebSocket')
})

t.test('new Aedes() + listen() (docs/Aedes.md)', async (t) => {
  const aedes = new Aedes()
  t.equal(aedes.closed, true, 'closed until listen()')
  await aedes.listen()
  t.equal(aedes.closed, false)
  t.type(aedes.id, 'string')
  const server = createServer(aedes.handle)
  await new Promise<void>((resolve) => { server.listen(port, resolve) })
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()) }))
  const c = mqtt.connect(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, { reconnectPeriod: 0 })
  await new Promise((resolve) => c.once('connect', resolve))
  const closed = new Promise<void>((resolve) => { aedes.once('closed', () => resolve()) })
  const clientClosed = new Promise<void>((resolve) => { c.once('close', () => resolve()) })
  await new Promise<void>((resolve) => { aedes.close(() => resolve()) })
  await closed
  await clientClosed
  t.equal(aedes.closed, true)
  c.end(true)
})

t.test('the docs hook examples (authenticate, authorizePublish, authorizeSubscribe, authorizeForward)', async (t) => {
  const aedes = await Aedes.createBroker()
  aedes.authenticate = function (_client, username, _password, callback) {
    callback(null, username === 'matteo')
  }
  aedes.authorizePublish = function (_client, packet, callback) {
    if (packet.topic === 'aaaa') {
      return callback(new Error('wrong topic'))
    }
    callback(null)
  }
  aedes.authorizeSubscribe = function (_client, sub, callback) {
    // prohibited to subscribe 'aaaa' and suppress error
    callback(null, sub.topic === 'aaaa' ? null : sub)
  }
  aedes.authorizeForward = function (client, packet) {
    if (packet.topic === 'aaaa' && client.id === 'I should not see this') {
      return
    }
    if (packet.topic === 'bbb') {
      packet.payload = Buffer.from('overwrite packet payload')
    }
    return packet
  }
  const server = createServer(aedes.handle)
  await new Promise<void>((resolve) => { server.listen(port, resolve) })
  t.teardown(() => new Promise<void>((resolve) => { aedes.close(() => server.close(() => resolve())) }))
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`

  const denied = mqtt.connect(url, { reconnectPeriod: 0, username: 'someone' })
  t.teardown(() => { denied.end(true) })
  const err = await new Promise<Error & { code?: number }>((resolve) => denied.once('error', resolve))
  t.equal(err.code, 4, 'callback(null, false): 3.1.1 return code 4 (bad user name or password)')

  const a = await connect(t, url, { username: 'matteo' })
  const granted = await subackCodes(a, ['aaaa', 'bbb'])
  t.same(granted, [128, 0], 'null negates the subscription')
  const got = nextMessage(a)
  await a.publishAsync('bbb', 'original')
  t.equal((await got).payload.toString(), 'overwrite packet payload', 'authorizeForward rewrote the payload')

  const closed = new Promise<void>((resolve) => a.once('close', () => resolve()))
  const errored = new Promise<Error>((resolve) => aedes.once('clientError', (_c, e) => resolve(e)))
  a.publish('aaaa', 'x')
  t.equal((await errored).message, 'wrong topic', 'the authorizePublish error is emitted')
  await closed
  t.pass('the publisher was disconnected')
})
