// Bad input over real sockets against the real culex process: each case gets the answer
// the spec prescribes, and the broker and its other clients carry on.
// These tests spawn dist/cli.js: they do not count toward this package's coverage.
import t from 'tap'
import mqtt from 'mqtt'
import { startCulex } from './helpers/culex.ts'
import { exchange, connect, publish, subscribe, splitPackets } from './helpers/raw.ts'

const CONNACK = 0x20
const DISCONNECT = 0xe0
const SUBACK = 0x90

// 16 KiB packet limit so "oversized" is cheap; 10,000-level topics are tested on a second
// broker with the default limit so that the level check (not the size check) answers.
const small = await startCulex(t, ['--max-packet-size', '16384', '--connect-timeout', '500'])
const normal = await startCulex(t, [])

// A healthy pair of clients on each broker, connected before any bad input arrives.
async function healthyPair (port: number): Promise<() => Promise<boolean>> {
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId: `bystander-sub-${port}` })
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, protocolVersion: 5, clientId: `bystander-pub-${port}` })
  t.teardown(() => { sub.end(true); pub.end(true) })
  await sub.subscribeAsync('health/#', { qos: 1 })
  let n = 0
  return async () => {
    if (!sub.connected || !pub.connected) return false
    const payload = `ping-${++n}`
    const got = new Promise<boolean>(resolve => {
      const timer = setTimeout(() => resolve(false), 3000)
      const on = (_topic: string, p: Buffer): void => {
        if (p.toString() === payload) { clearTimeout(timer); sub.off('message', on); resolve(true) }
      }
      sub.on('message', on)
    })
    await pub.publishAsync('health/x', payload, { qos: 1 })
    return await got
  }
}
const healthySmall = await healthyPair(small.ports.mqtt!)
const healthyNormal = await healthyPair(normal.ports.mqtt!)

interface Case {
  name: string
  broker: 'small' | 'normal'
  steps: Buffer[]
  /** packet types (and reason code for DISCONNECT/SUBACK) expected, in order */
  expect: Array<[type: number, reason?: number]>
  closed: boolean
}

const bigPayload = Buffer.alloc(20_000, 0x61)
const tenThousandLevels = '/'.repeat(9999) // 10,000 empty levels
const cases: Case[] = [
  { name: 'malformed remaining length (5 bytes) before CONNECT: closed [MQTT-1.5.5]', broker: 'small', steps: [Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])], expect: [], closed: true },
  { name: 'PUBLISH before CONNECT: closed without CONNACK [MQTT-3.1.0-1]', broker: 'small', steps: [publish(4, 'a', Buffer.from('x'))], expect: [], closed: true },
  { name: 'QoS 3 PUBLISH, 5.0: DISCONNECT 0x81 [MQTT-3.3.1-4]', broker: 'small', steps: [connect(5, 'q3'), Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00])], expect: [[CONNACK], [DISCONNECT, 0x81]], closed: true },
  { name: 'QoS 3 PUBLISH, 3.1.1: closed [MQTT-3.3.1-4]', broker: 'small', steps: [connect(4, 'q3b'), Buffer.from([0x36, 0x04, 0x00, 0x01, 0x61, 0x00])], expect: [[CONNACK]], closed: true },
  { name: 'second CONNECT, 5.0: DISCONNECT 0x82 [MQTT-3.1.0-2]', broker: 'small', steps: [connect(5, 'sc5'), connect(5, 'sc5')], expect: [[CONNACK], [DISCONNECT, 0x82]], closed: true },
  { name: 'second CONNECT, 3.1.1: closed [MQTT-3.1.0-2]', broker: 'small', steps: [connect(4, 'sc4'), connect(4, 'sc4')], expect: [[CONNACK]], closed: true },
  { name: 'oversized PUBLISH, 5.0: DISCONNECT 0x95 [MQTT-3.2.2-15]', broker: 'small', steps: [connect(5, 'big5'), publish(5, 'a', bigPayload)], expect: [[CONNACK], [DISCONNECT, 0x95]], closed: true },
  { name: 'oversized PUBLISH, 3.1.1: closed', broker: 'small', steps: [connect(4, 'big4'), publish(4, 'a', bigPayload)], expect: [[CONNACK]], closed: true },
  { name: 'header announcing 256 MB, 5.0: DISCONNECT 0x95 before any buffering', broker: 'small', steps: [connect(5, 'huge'), Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])], expect: [[CONNACK], [DISCONNECT, 0x95]], closed: true },
  { name: 'invalid UTF-8 topic, 5.0: DISCONNECT 0x81 [MQTT-1.5.4-1]', broker: 'small', steps: [connect(5, 'u8'), publish(5, Buffer.from([0x61, 0xc3, 0x28]), Buffer.from('x'))], expect: [[CONNACK], [DISCONNECT, 0x81]], closed: true },
  { name: 'invalid UTF-8 topic, 3.1.1: closed [MQTT-1.5.3-1]', broker: 'small', steps: [connect(4, 'u84'), publish(4, Buffer.from([0x61, 0xc3, 0x28]), Buffer.from('x'))], expect: [[CONNACK]], closed: true },
  { name: 'U+0000 in topic, 5.0: DISCONNECT 0x81 [MQTT-1.5.4-2]', broker: 'small', steps: [connect(5, 'nul'), publish(5, Buffer.from([0x61, 0x00]), Buffer.from('x'))], expect: [[CONNACK], [DISCONNECT, 0x81]], closed: true },
  { name: '10,000-level PUBLISH topic, 5.0: DISCONNECT 0x90', broker: 'normal', steps: [connect(5, 'lv5'), publish(5, tenThousandLevels, Buffer.from('x'), 1)], expect: [[CONNACK], [DISCONNECT, 0x90]], closed: true },
  { name: '10,000-level PUBLISH topic, 3.1.1: closed', broker: 'normal', steps: [connect(4, 'lv4'), publish(4, tenThousandLevels, Buffer.from('x'), 1)], expect: [[CONNACK]], closed: true },
  { name: '10,000-level SUBSCRIBE filter, 5.0: SUBACK 0x8F, connection kept', broker: 'normal', steps: [connect(5, 'ls5'), subscribe(5, 'a/'.repeat(9999) + 'a')], expect: [[CONNACK], [SUBACK, 0x8f]], closed: false },
  { name: '10,000-level SUBSCRIBE filter, 3.1.1: SUBACK 0x80, connection kept', broker: 'normal', steps: [connect(4, 'ls4'), subscribe(4, 'a/'.repeat(9999) + 'a')], expect: [[CONNACK], [SUBACK, 0x80]], closed: false },
  { name: 'nothing sent: closed after --connect-timeout (500 ms)', broker: 'small', steps: [], expect: [], closed: true },
  { name: 'half a CONNECT then silence: closed after --connect-timeout', broker: 'small', steps: [connect(5, 'half').subarray(0, 8)], expect: [], closed: true },
  { name: 'random garbage: closed', broker: 'small', steps: [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], expect: [], closed: true }
]

for (const c of cases) {
  t.test(c.name, async t => {
    const port = (c.broker === 'small' ? small : normal).ports.mqtt!
    const r = await exchange(port, c.steps, { timeoutMs: c.closed ? 5000 : 500 })
    const got = splitPackets(r.data)
    t.same(got.map(p => p.type), c.expect.map(e => e[0]), 'packet types answered')
    for (let i = 0; i < c.expect.length; i++) {
      const [type, reason] = c.expect[i]!
      if (reason === undefined) continue
      const body = got[i]?.body
      // DISCONNECT: reason is the first byte; SUBACK: after packet id (2) and, in 5.0, properties
      const actual = type === DISCONNECT ? body?.[0] : body?.[body.length - 1]
      t.equal(actual, reason, `reason code 0x${reason.toString(16)}`)
    }
    if (c.expect[0]?.[0] === CONNACK) t.equal(got[0]?.body[1], 0, 'CONNECT itself was accepted')
    t.equal(r.closed, c.closed, c.closed ? 'broker closed the connection' : 'connection still open')
    t.ok(await (c.broker === 'small' ? healthySmall : healthyNormal)(), 'other clients carry on: publish/subscribe still works')
  })
}

t.test('both brokers still alive after everything', async t => {
  t.equal(small.proc.exitCode, null)
  t.equal(normal.proc.exitCode, null)
  t.ok(await healthySmall())
  t.ok(await healthyNormal())
})
