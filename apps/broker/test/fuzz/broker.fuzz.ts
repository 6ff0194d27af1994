// Fuzz the real culex process over TCP for a time budget (not part of `npm test`):
//   npm run fuzz -w culex                      (FUZZ_SECONDS=60, FUZZ_CONNECTIONS=32, FUZZ_SEED=<n>)
// Many connections send random bytes, or a valid CONNECT followed by valid packets that are
// mutated (bytes flipped, inserted, dropped, truncated, lengths changed) and cut into random
// chunks. Meanwhile a canary client exchanges QoS 1 messages with itself. It fails (exit 1)
// when culex exits, prints an uncaught exception, stops answering the canary for 5 s, or
// loses a canary message. The seed is printed; rerun with FUZZ_SEED to replay the same inputs.
import net from 'node:net'
import { encode, type Packet } from '@culex/packet'
import mqtt from 'mqtt'
import { startCulex } from '../helpers/culex.ts'
import { rss } from '../helpers/hostile.ts'

const seconds = Number(process.env.FUZZ_SECONDS ?? 60)
const connections = Number(process.env.FUZZ_CONNECTIONS ?? 32)
const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))

// mulberry32: a small seeded PRNG, so a failing run can be replayed
let state = seed >>> 0
function rand (): number {
  state = (state + 0x6D2B79F5) >>> 0
  let x = state
  x = Math.imul(x ^ (x >>> 15), x | 1)
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296
}
const int = (n: number): number => Math.floor(rand() * n)
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
const bytes = (n: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = int(256); return b }

const TOPICS = ['a', 'a/b', 'fuzz/x', '$SYS/x', 'canary/x', '', 'a/+', '#', '$share/g/a', 'x'.repeat(300)]

function validPacket (v: 4 | 5): Packet {
  const topic = pick(TOPICS.filter(t => t.length > 0 && !t.includes('+') && !t.includes('#')))
  const qos = int(3) as 0 | 1 | 2
  const id = 1 + int(65535)
  const props = v === 5 && rand() < 0.5 ? { properties: { userProperties: { k: 'v' }, ...(rand() < 0.3 ? { topicAlias: 1 + int(12) } : {}) } } : {}
  switch (int(9)) {
    case 0: return { cmd: 'publish', topic, payload: bytes(int(64)), qos, dup: false, retain: rand() < 0.3, ...(qos > 0 ? { messageId: id } : {}), ...props } as Packet
    case 1: return { cmd: 'subscribe', messageId: id, subscriptions: [{ topic: pick(TOPICS.filter(t => t.length > 0)), qos }] } as Packet
    case 2: return { cmd: 'unsubscribe', messageId: id, unsubscriptions: [pick(TOPICS.filter(t => t.length > 0))] } as Packet
    case 3: return { cmd: 'puback', messageId: id } as Packet
    case 4: return { cmd: 'pubrec', messageId: id } as Packet
    case 5: return { cmd: 'pubrel', messageId: id } as Packet
    case 6: return { cmd: 'pubcomp', messageId: id } as Packet
    case 7: return { cmd: 'pingreq' }
    default: return { cmd: 'disconnect' }
  }
}

function mutate (b: Buffer): Buffer {
  const out = Buffer.from(b)
  switch (int(6)) {
    case 0: if (out.length > 0) out[int(out.length)] = int(256); return out
    case 1: return Buffer.concat([out.subarray(0, int(out.length + 1)), bytes(1 + int(8)), out.subarray(int(out.length + 1))])
    case 2: { const at = int(out.length + 1); return Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + int(4))]) }
    case 3: return out.subarray(0, int(out.length + 1))
    case 4: if (out.length > 1) out[1] = int(256); return out
    default: return out
  }
}

function session (port: number): Promise<void> {
  return new Promise(resolve => {
    const s = net.connect({ port, host: '127.0.0.1' })
    s.on('error', () => {})
    s.on('data', () => {})
    s.on('close', () => resolve())
    s.setTimeout(3000, () => s.destroy())
    s.once('connect', () => {
      const v = pick([4, 5] as const)
      const chunks: Buffer[] = []
      if (rand() < 0.15) {
        chunks.push(bytes(1 + int(512)))
      } else {
        const connect = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean: rand() < 0.7, keepalive: int(60), clientId: `fz${int(200)}`, ...(v === 5 ? { properties: { topicAliasMaximum: int(20) } } : {}) }, v)
        chunks.push(rand() < 0.1 ? mutate(connect) : connect)
        const n = 1 + int(30)
        for (let i = 0; i < n; i++) {
          const p = encode(validPacket(v), v)
          chunks.push(rand() < 0.2 ? mutate(p) : p)
        }
      }
      const all = Buffer.concat(chunks)
      // cut into random pieces, written with small gaps
      let at = 0
      const writeNext = (): void => {
        if (at >= all.length || s.destroyed) { if (rand() < 0.5) s.end(); else setTimeout(() => s.destroy(), int(200)); return }
        const n = 1 + int(Math.min(all.length - at, 256))
        s.write(all.subarray(at, at + n))
        at += n
        if (rand() < 0.2) setTimeout(writeNext, int(10)); else writeNext()
      }
      writeNext()
    })
  })
}

const tap = { teardowns: [] as Array<() => unknown>, teardown (fn: () => unknown) { this.teardowns.push(fn) } }
const run = { failed: null as string | null }
const culex = await startCulex(tap, ['--sys-interval', '1', '--connect-timeout', '2000', '--max-pending-per-address', '4096'])
const port = culex.ports.mqtt!
const pid = culex.proc.pid!
let stopping = false
culex.exited.then(({ code, signal }) => { if (!stopping) run.failed ??= `culex exited (${code ?? signal})` }, () => {})
console.log(`fuzzing culex (pid ${pid}) for ${seconds} s with ${connections} connections, seed ${seed}`)

const canary = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId: 'fuzz-canary' })
await canary.subscribeAsync('canary/fuzz', { qos: 1 })
const pending = new Map<string, number>()
let sent = 0
let received = 0
canary.on('message', (_t, payload) => { if (pending.delete(payload.toString())) received++ })
canary.on('close', () => { run.failed ??= 'the canary was disconnected' })
const canaryTimer = setInterval(() => {
  const id = String(++sent)
  pending.set(id, Date.now())
  canary.publish('canary/fuzz', id, { qos: 1 })
  for (const at of pending.values()) if (Date.now() - at > 5000) run.failed ??= 'a canary message waited more than 5 s (hang)'
}, 50)

const end = Date.now() + seconds * 1000
let sessions = 0
let peak = rss(pid)
const workers = Array.from({ length: connections }, async () => {
  while (Date.now() < end && run.failed === null) {
    await session(port)
    sessions++
    if (sessions % 200 === 0) peak = Math.max(peak, rss(pid))
  }
})
await Promise.all(workers)
clearInterval(canaryTimer)
const deadline = Date.now() + 5000
while (pending.size > 0 && Date.now() < deadline && run.failed === null) await new Promise(resolve => setTimeout(resolve, 50))
if (run.failed === null && pending.size > 0) run.failed = `canary lost ${pending.size} of ${sent} messages`
if (run.failed === null && /uncaught|unhandled/i.test(culex.stderr())) run.failed = `culex printed: ${culex.stderr().slice(0, 500)}`
canary.removeAllListeners('close')
canary.end(true)
console.log(`${sessions} fuzz connections, canary ${received}/${sent}, peak RSS ${(peak / 1048576).toFixed(1)} MB`)
stopping = true
for (const fn of tap.teardowns.reverse()) await fn()
if (run.failed !== null) {
  console.error(`FAIL (seed ${seed}): ${run.failed}`)
  process.exit(1)
}
console.log('ok')
