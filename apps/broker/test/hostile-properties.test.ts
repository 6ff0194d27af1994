// Hostile client, CPU amplification (over real sockets against the culex process): PUBLISH
// packets of ~6.4 MB carrying 500,000 user properties each. The broker stops decoding at
// --max-user-properties (default 256) and answers DISCONNECT 0x95, so the event loop is not
// blocked: a canary's QoS 1 round trips stay fast meanwhile.
import t from 'tap'
import { within } from '@culex/test-kit'
import { startCulex } from './helpers/culex.ts'
import { canary, mb, rawSocket, rss, rssSampler, sleep } from './helpers/hostile.ts'
import { connect, packet, str, varint } from './helpers/raw.ts'

/** A 5.0 PUBLISH to `t` with `n` user properties k<i> = v. */
function manyProperties (n: number): Buffer {
  const parts: Buffer[] = []
  for (let i = 0; i < n; i++) parts.push(Buffer.from([0x26]), str(`k${i}`), str('v'))
  const props = Buffer.concat(parts)
  return packet(0x30, Buffer.concat([str('t'), varint(props.length), props, Buffer.from('payload')]))
}

t.test('ten PUBLISH of 500,000 user properties each: DISCONNECT 0x95, the event loop stays free', async (t) => {
  const culex = await startCulex(t, [])
  const port = culex.ports.mqtt!
  const pid = culex.proc.pid!
  const bytes = manyProperties(500_000)
  t.comment(`one attack packet: ${mb(bytes.length)}`)
  const bird = await canary(t, port, 10)
  await sleep(200)
  const before = rss(pid)
  const sampler = rssSampler(pid)
  const answers = await Promise.all(Array.from({ length: 10 }, async () => {
    const s = await rawSocket(t, port)
    const got: Buffer[] = []
    s.on('data', (d: Buffer) => got.push(d))
    s.write(connect(5, `evil-${Math.random()}`))
    s.write(bytes)
    await within(s.closedAt, 10_000, -1)
    s.destroy()
    return Buffer.concat(got)
  }))
  await sleep(300)
  const peak = sampler.stop()
  const c = await bird.stop()
  for (const a of answers) {
    t.equal(a[0], 0x20, 'CONNACK first')
    const d = a.subarray(2 + a[1]!)
    t.same([d[0], d[2]], [0xe0, 0x95], 'then DISCONNECT 0x95 Packet too large')
  }
  t.comment(`RSS before ${mb(before)}, peak ${mb(peak)}; canary max latency ${c.maxLatency} ms`)
  t.ok(c.sent > 0 && c.received === c.sent, `canary: ${c.received}/${c.sent} QoS 1 messages`)
  t.ok(c.maxLatency < 1000, `canary max latency ${c.maxLatency} ms (bound 1000 ms; decoding all properties blocks for seconds)`)
})
