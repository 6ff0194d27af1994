// Hostile client, outbound topic aliases (over real sockets against the culex process): a 5.0
// subscriber that allows 65,535 aliases is fed thousands of distinct long topics. The broker's
// alias map must stay within --max-topic-alias-bytes (default 64 KiB), so RSS stays flat,
// every message still reaches the subscriber under its right topic, and a canary keeps going.
import t from 'tap'
import mqtt from 'mqtt'
import { startCulex } from './helpers/culex.ts'
import { canary, mb, MB, rss, rssSampler, sleep } from './helpers/hostile.ts'

const culex = await startCulex(t, [])
const port = culex.ports.mqtt!
const pid = culex.proc.pid!

t.test('thousands of distinct 60 KiB and 1000-character topics to a subscriber allowing 65,535 aliases', async (t) => {
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, properties: { topicAliasMaximum: 65535 } })
  t.teardown(() => { sub.end(true) })
  await sub.subscribeAsync('al/#', { qos: 0 })
  const got = new Map<string, number>()
  let aliased = 0
  sub.on('message', (topic, _payload, packet) => {
    got.set(topic, (got.get(topic) ?? 0) + 1)
    if (packet.properties?.topicAlias !== undefined) aliased++
  })
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0 })
  t.teardown(() => { pub.end(true) })
  const bird = await canary(t, port)
  const before = rss(pid)
  const sampler = rssSampler(pid)

  const flood = async (count: number, length: number, prefix: string): Promise<void> => {
    const sent: string[] = []
    for (let i = 0; i < count; i += 8) {
      const batch: Array<Promise<unknown>> = []
      for (let j = i; j < Math.min(count, i + 8); j++) {
        const topic = `al/${prefix}/${String(j).padStart(6, '0')}/`.padEnd(length, 'x')
        sent.push(topic)
        batch.push(pub.publishAsync(topic, 'p', { qos: 1 }))
      }
      await Promise.all(batch)
    }
    const deadline = Date.now() + 20_000
    while (sent.some(s => got.get(s) !== 1) && Date.now() < deadline) await sleep(50)
    t.equal(sent.filter(s => got.get(s) === 1).length, count, `every ${length}-character topic arrived once, under its own name`)
  }
  await flood(3000, 60 * 1024, 'big')
  await flood(3000, 1000, 'mid')
  // then topics seen again: some still aliased (the most recent), all resolved correctly
  got.clear()
  await flood(50, 1000, 'mid')

  const during = sampler.stop()
  await sleep(500)
  const after = rss(pid)
  const c = await bird.stop()
  t.comment(`RSS before ${mb(before)}, peak ${mb(during)}, after ${mb(after)} (the alias map of the old broker alone: ~${mb(3000 * 60 * 1024 + 3000 * 1000)})`)
  t.ok(aliased > 0, `aliases still used (${aliased} aliased deliveries)`)
  t.ok(after - before < 80 * MB, `RSS grew ${mb(after - before)} while the subscriber stays connected (bound: 80 MB)`)
  t.ok(c.sent > 0 && c.received === c.sent, `canary: ${c.received}/${c.sent} QoS 1 messages, max latency ${c.maxLatency} ms`)
})
