/**
 * `npm run bench -w @culex/client`: @culex/client vs MQTT.js 5.16.0 against one Mosquitto
 * started here, same process, alternating contestants, several rounds. Prints a table with
 * the median of the rounds and the ratio culex / MQTT.js.
 */
import { culex, mqttjs, qos0Publish, qos0PublishGated, qos1RoundTrip, receive, type Contestant, type Peer } from './clients.bench.ts'
import { startMosquitto } from './mosquitto.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const N0 = Number(process.env.N0 ?? 100_000)
const N1 = Number(process.env.N1 ?? 10_000)
const NR = Number(process.env.NR ?? 100_000)
const VERSION = Number(process.env.MQTT_VERSION ?? 4) as 4 | 5

const broker = await startMosquitto()
let seq = 0
const topic = (s: string): string => `bench/${s}/${++seq}`

async function withPeer<T> (c: Contestant, fn: (p: Peer) => Promise<T>): Promise<T> {
  const p = await c.connect(broker.port, VERSION)
  try {
    return await fn(p)
  } finally {
    await p.end()
  }
}

// Same output before timing: both deliver the same 200 messages (QoS 0 and QoS 1) to the
// same subscriber, and both receive the same feed.
for (const c of [culex, mqttjs]) {
  const t = topic('check')
  const got: string[] = []
  await withPeer(culex, async (watcher) => {
    watcher.onMessage((tp, p) => { if (tp === t) got.push(p.toString()) })
    await watcher.sub(t, 1)
    await withPeer(c, async (p) => {
      for (let i = 0; i < 100; i++) await p.pub0(t, Buffer.from(String(i)), true)
      for (let i = 100; i < 200; i++) await p.pub1(t, Buffer.from(String(i)))
    })
    const end = Date.now() + 5000
    while (got.length < 200 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10))
  })
  if (got.join() !== Array.from({ length: 200 }, (_, i) => String(i)).join()) {
    throw new Error(`${c.name}: expected 200 messages in order, got ${got.length}`)
  }
  const r = await receive(c, broker.port, VERSION, 1000, topic('check-rx'))
  if (!(r > 0)) throw new Error(`${c.name}: receive check failed`)
}

const scenarios = [
  { name: `QoS 0 publish, library only (${N0} × 16 B, gated)`, run: (c: Contestant) => qos0PublishGated(c, broker.port, VERSION, N0, topic('q0g')) },
  { name: `QoS 0 publish, until Mosquitto read all (${N0} × 16 B)`, run: (c: Contestant) => withPeer(c, (p) => qos0Publish(p, N0, topic('q0'))) },
  { name: `QoS 1 round trip (${N1}, window 100)`, run: (c: Contestant) => withPeer(c, (p) => qos1RoundTrip(p, N1, topic('q1'))) },
  { name: `receive QoS 0 backlog (${NR} × 16 B)`, run: (c: Contestant) => receive(c, broker.port, VERSION, NR, topic('rx')) }
]

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const spread = (xs: number[]): number => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length
  return 100 * Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length) / m
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

console.log(`Mosquitto 2.0 on 127.0.0.1, MQTT ${VERSION === 5 ? '5.0' : '3.1.1'}, Node ${process.version}, ${ROUNDS} rounds (median)\n`)
console.log('| scenario | @culex/client msg/s | ± | MQTT.js msg/s | ± | ratio |')
console.log('|---|---:|---:|---:|---:|---:|')
for (const s of scenarios) {
  const res = new Map<string, number[]>([[culex.name, []], [mqttjs.name, []]])
  await s.run(culex) // warm up
  await s.run(mqttjs)
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 === 0 ? [culex, mqttjs] : [mqttjs, culex]) res.get(c.name)!.push(await s.run(c))
  }
  const a = res.get(culex.name)!
  const b = res.get(mqttjs.name)!
  console.log(`| ${s.name} | ${fmt(median(a))} | ${spread(a).toFixed(1)}% | ${fmt(median(b))} | ${spread(b).toFixed(1)}% | ${(median(a) / median(b)).toFixed(2)}× |`)
}
await broker.stop()
