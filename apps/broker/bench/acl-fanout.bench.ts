/**
 * The cost of read authorization per delivery: QoS 0 fan-out (1 publisher → 50
 * subscribers on loopback TCP, 64-byte payloads) on one engine without an ACL and on one
 * with a 1,000-rule Mosquitto ACL file (the granting rule last, so an uncached check walks
 * every rule). Rounds alternate A/B in one process; medians and the ratio are reported.
 * A micro-benchmark of one uncached ACL check shows what the per-(session, topic) cache saves.
 *
 * Run: npm run bench:acl -w culex   (BENCH_SECONDS=3 BENCH_ROUNDS=3 by default)
 */
import net from 'node:net'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Broker, type BrokerOptions } from '@culex/broker'
import { encode, type Packet } from '@culex/packet'
import { buildAuthHooks } from '../src/auth.ts'
import { Acl, parseAcl } from '../src/acl.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SUBS = 50
const TOPICS = 10

function aclFile (): string {
  const lines = ['user bench']
  for (let i = 0; i < 998; i++) lines.push(`topic read other/${i}/#`)
  lines.push('topic deny bench/secret/#')
  lines.push('topic readwrite bench/#')
  return lines.join('\n') + '\n'
}

async function client (port: number, id: string): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1')
  s.setNoDelay(true)
  await once(s, 'connect')
  s.write(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: id, clean: true, keepalive: 0, username: 'bench' } as Packet, 4))
  await once(s, 'data')
  return s
}

async function run (hooks: Partial<BrokerOptions>, filter = 'bench/#'): Promise<number> {
  const broker = new Broker({ sysInterval: 0, ...hooks })
  const server = net.createServer((sock) => { broker.handle(sock) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  const subs: net.Socket[] = []
  let bytes = 0
  for (let i = 0; i < SUBS; i++) {
    const s = await client(port, `sub${i}`)
    s.write(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] } as Packet, 4))
    await once(s, 'data')
    s.on('data', (chunk: Buffer) => { bytes += chunk.length })
    subs.push(s)
  }
  const pub = await client(port, 'pub')
  const packets = Array.from({ length: TOPICS }, (_, i) => encode({ cmd: 'publish', topic: `bench/t/${i}`, payload: Buffer.alloc(64, 1), qos: 0, retain: false, dup: false } as Packet, 4))
  const size = packets[0]!.length
  const state = { stop: false }
  let k = 0
  const pump = (): void => {
    while (!state.stop) {
      if (!pub.write(packets[k++ % TOPICS]!)) {
        pub.once('drain', pump)
        return
      }
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 200)) // let the sockets settle
  const start = process.hrtime.bigint()
  bytes = 0
  pump()
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000))
  state.stop = true
  const got = bytes
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  pub.destroy()
  for (const s of subs) s.destroy()
  await broker.close()
  server.close()
  return got / size / secs
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const dir = mkdtempSync(join(tmpdir(), 'culex-acl-bench-'))
try {
  const file = join(dir, 'acl')
  writeFileSync(file, aclFile())
  const { hooks } = buildAuthHooks({ passwordFile: undefined, aclFile: file, allowAnonymous: true })

  // one uncached check against the 1,000-rule file (what every delivery would cost without the cache)
  const acl = new Acl(parseAcl(aclFile(), file))
  const who = { clientId: 'sub0', username: 'bench' }
  let sink = 0
  const n = 20_000
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) sink += acl.canRead(who, `bench/t/${i % TOPICS}`) ? 1 : 0
  const perCheck = Number(process.hrtime.bigint() - t0) / n
  if (sink !== n) throw new Error('the 1,000-rule ACL should allow bench/t/*')

  const plain: number[] = []
  const withAcl: number[] = []
  const whole: number[] = []
  await run({}) // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    plain.push(await run({}))
    withAcl.push(await run(hooks))
    whole.push(await run(hooks, 'bench/t/#'))
  }
  const a = median(plain)
  const b = median(withAcl)
  const c = median(whole)
  console.log(`QoS 0 fan-out 1 → ${SUBS}, ${TOPICS} topics, ${SECONDS} s × ${ROUNDS} rounds (A/B alternating)`)
  console.log('| engine | delivered msg/s (median) | rounds |')
  console.log('|---|---:|---|')
  console.log(`| no ACL | ${Math.round(a).toLocaleString('en')} | ${plain.map((x) => Math.round(x).toLocaleString('en')).join(', ')} |`)
  console.log(`| 1,000-rule ACL, \`bench/#\` (a deny inside it: read decided per delivery, cached per topic) | ${Math.round(b).toLocaleString('en')} | ${withAcl.map((x) => Math.round(x).toLocaleString('en')).join(', ')} |`)
  console.log(`| 1,000-rule ACL, \`bench/t/#\` (readable as a whole: decided once per subscription) | ${Math.round(c).toLocaleString('en')} | ${whole.map((x) => Math.round(x).toLocaleString('en')).join(', ')} |`)
  console.log(`ratio per delivery / without ACL: ${(b / a).toFixed(3)} (${((1 - b / a) * 100).toFixed(1)} % slower)`)
  console.log(`ratio whole filter / without ACL: ${(c / a).toFixed(3)} (${((1 - c / a) * 100).toFixed(1)} % slower)`)
  console.log(`one uncached check of the 1,000-rule ACL: ${(perCheck / 1000).toFixed(1)} µs (${Math.round(1e9 / perCheck).toLocaleString('en')} checks/s)`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
