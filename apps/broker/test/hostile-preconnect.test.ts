// Hostile clients before CONNECT (over real sockets against the culex process): a first packet
// that is not CONNECT is refused at its first byte; a CONNECT announcing 16 MiB is refused
// from its fixed header (--max-connect-packet-size, default 8192); sockets that announce a
// large packet and trickle reserve nothing; silent sockets do not take --max-connections
// slots and are bounded per address. A canary keeps exchanging QoS 1 meanwhile.
import t from 'tap'
import { within } from '@culex/test-kit'
import mqtt from 'mqtt'
import { startCulex } from './helpers/culex.ts'
import { canary, mb, MB, rawSocket, rss, rssSampler, sleep } from './helpers/hostile.ts'
import { str, varint } from './helpers/raw.ts'

/** A CONNECT (3.1.1) whose password is `size` bytes: the fixed header, then `sendBody` bytes of it. */
function bigConnect (size: number): { header: Buffer, body: Buffer } {
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0x00, 0x3c]), str('evil'), str('u'), Buffer.from([size >> 8 & 0xff, size & 0xff])])
  const remaining = body.length + size
  return { header: Buffer.concat([Buffer.from([0x10]), varint(remaining)]), body }
}

t.test('64 sockets sending a 16 MiB PUBLISH or a CONNECT with a 16 MiB password, 200 announcing 16 MiB and trickling', async (t) => {
  const culex = await startCulex(t, [])
  const port = culex.ports.mqtt!
  const pid = culex.proc.pid!
  const bird = await canary(t, port)
  await sleep(200)
  const before = rss(pid)
  const sampler = rssSampler(pid)
  const big = Buffer.alloc(16 * MB)
  const publishes = []
  for (let i = 0; i < 32; i++) {
    const s = await rawSocket(t, port)
    // PUBLISH announcing 16 MiB, then the bytes: refused at the first byte
    s.write(Buffer.concat([Buffer.from([0x30]), varint(16 * MB - 5)]))
    s.write(big)
    publishes.push(s)
  }
  const connects = []
  for (let i = 0; i < 32; i++) {
    const s = await rawSocket(t, port)
    const c = bigConnect(16 * MB - 100)
    s.write(Buffer.concat([c.header, c.body]))
    s.write(big.subarray(0, 16 * MB - 200))
    connects.push(s)
  }
  const tricklers = []
  for (let i = 0; i < 200; i++) {
    const s = await rawSocket(t, port)
    // a PUBLISH announcing 1000 bytes, trickled: refused at its first byte; a CONNECT within the limit, trickled: held
    const c = bigConnect(6000)
    s.write(i % 2 === 0 ? Buffer.from([0x32, 0xe8, 0x07]) : Buffer.concat([c.header, c.body]))
    tricklers.push(s)
  }
  for (let k = 0; k < 10; k++) {
    for (const s of tricklers) if (!s.destroyed) s.write(Buffer.alloc(10))
    await sleep(50)
  }
  const start = Date.now()
  const closes = await Promise.all([...publishes, ...connects].map(s => s.closedAt))
  t.ok(Math.max(...closes) - start < 5000, 'every oversized first packet closed within 5 s (not at the 30 s connect timeout)')
  await within(Promise.all(tricklers.filter((_, i) => i % 2 === 0).map(s => s.closedAt)), 5000, [])
  const refusedTricklers = tricklers.filter((s, i) => i % 2 === 0 && (s.readableEnded || s.destroyed))
  t.equal(refusedTricklers.length, 100, `a trickled PUBLISH is closed at its first byte (${refusedTricklers.length} of 100)`)
  const held = tricklers.filter((s, i) => i % 2 === 1 && !s.destroyed).length
  t.equal(held, 100, 'CONNECTs under the limit are still being received')
  const peak = sampler.stop()
  const c = await bird.stop()
  t.comment(`RSS before ${mb(before)}, peak ${mb(peak)} under 64 × 16 MiB first packets + 200 tricklers (was 1.1 GB for the 64 alone)`)
  t.ok(peak - before < 100 * MB, `peak RSS growth ${mb(peak - before)} (bound: 100 MB)`)
  t.ok(c.sent > 0 && c.received === c.sent, `canary: ${c.received}/${c.sent} QoS 1 messages, max latency ${c.maxLatency} ms`)
})

t.test('silent sockets do not take --max-connections slots; per-address bound', async (t) => {
  const culex = await startCulex(t, ['--max-connections', '3', '--max-pending-per-address', '20'])
  const port = culex.ports.mqtt!
  const silent = []
  for (let i = 0; i < 25; i++) silent.push(await rawSocket(t, port, '127.0.0.2'))
  await sleep(300)
  const open = silent.filter(s => !s.destroyed)
  t.equal(open.length, 20, 'the 21st silent socket from one address is closed at once')
  // legitimate clients from another address still get all --max-connections slots (the canary takes one)
  const bird = await canary(t, port)
  const clients = []
  for (let i = 0; i < 2; i++) {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 3000 })
    t.teardown(() => { c.end(true) })
    clients.push(c)
  }
  t.equal(clients.filter(c => c.connected).length, 2, 'both connected while 20 silent sockets are open')
  const fourth = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 3000 })
  t.teardown(() => { fourth.end(true) })
  const refused = await new Promise<number | undefined>(resolve => {
    fourth.once('error', (err) => resolve((err as Error & { code?: number }).code))
    fourth.once('connect', () => resolve(0))
  })
  t.equal(refused, 3, 'a fourth CONNECT is over --max-connections (return code 3)')
  await sleep(300)
  const c = await bird.stop()
  t.ok(c.sent > 0 && c.received === c.sent, `canary: ${c.received}/${c.sent} QoS 1 messages`)
})
