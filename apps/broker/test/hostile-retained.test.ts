// Memory kept by a retained flood (over real sockets against the culex process, memory
// store): 100,000 small retained messages must cost bytes each, not the socket chunk each
// payload arrived in (a kept view would pin a whole chunk). RSS before, during and after,
// with a canary exchanging QoS 1 meanwhile.
import t from 'tap'
import { startCulex } from './helpers/culex.ts'
import { canary, mb, rawSocket, rss, sleep } from './helpers/hostile.ts'
import { connect, packet, str } from './helpers/raw.ts'

const N = 100_000

t.test(`${N} retained messages of 10 bytes`, async (t) => {
  const culex = await startCulex(t, ['--sys-interval', '0'])
  const port = culex.ports.mqtt!
  const pid = culex.proc.pid!
  const bird = await canary(t, port)
  const s = await rawSocket(t, port)
  s.write(connect(4, 'retainer'))
  await sleep(200)
  const before = rss(pid)
  let peak = before
  for (let i = 0; i < N; i += 1000) {
    const parts: Buffer[] = []
    // QoS 0 retained PUBLISH, 1000 per write: each socket chunk holds many payloads
    for (let j = i; j < i + 1000; j++) parts.push(packet(0x31, Buffer.concat([str(`r/${j}`), Buffer.from('0123456789')])))
    if (!s.write(Buffer.concat(parts))) await new Promise(resolve => s.once('drain', resolve))
    if (i % 10_000 === 0) peak = Math.max(peak, rss(pid))
  }
  // the first, middle and last were stored: a subscriber to them gets them back
  const sub = await rawSocket(t, port)
  let got = Buffer.alloc(0)
  sub.on('data', (d: Buffer) => { got = Buffer.concat([got, d]) })
  sub.write(connect(4, 'reader'))
  await sleep(500) // the publisher's packets are processed before we ask
  const probe = ['r/0', `r/${N / 2}`, `r/${N - 1}`]
  for (const topic of probe) sub.write(packet(0x82, Buffer.concat([Buffer.from([0, 1]), str(topic), Buffer.from([0])])))
  const deadline = Date.now() + 10_000
  while (probe.some(p => !got.includes(Buffer.concat([str(p), Buffer.from('0123456789')]))) && Date.now() < deadline) await sleep(50)
  peak = Math.max(peak, rss(pid))
  s.destroy()
  sub.destroy()
  await sleep(1000)
  const after = rss(pid)
  const c = await bird.stop()
  const per = (after - before) / N
  t.comment(`RSS before ${mb(before)}, peak ${mb(peak)}, after (publisher and reader gone) ${mb(after)}: ${per.toFixed(0)} bytes per retained message`)
  t.ok(probe.every(p => got.includes(Buffer.concat([str(p), Buffer.from('0123456789')]))), 'the first, middle and last retained messages are stored')
  t.ok(per < 2048, `${per.toFixed(0)} bytes per 10-byte retained message (bound 2 KB; a pinned chunk costs 8 KB or more)`)
  t.ok(c.sent > 0 && c.received === c.sent, `canary: ${c.received}/${c.sent} QoS 1 messages, max latency ${c.maxLatency} ms`)
})
