/**
 * In-process A/B of two builds of @culex/broker: the same QoS 0 and QoS 1 fan-out over
 * in-memory duplex pairs (no sockets, no kernel: what is measured is the engine's own
 * publish path), each build in turn, in interleaved rounds so that drift of the machine
 * hits both alike. Reports the median messages delivered per second of CPU time (user +
 * system of this process: on a shared machine far steadier than wall time, which is shown
 * too) and B / A.
 *
 * Run (B defaults to this worktree's dist, A to a copy of another build's dist):
 *   npm run build -w @culex/broker
 *   mkdir node_modules/.culex-ab-base && cp -r packages/broker/package.json packages/broker/dist node_modules/.culex-ab-base/   # on the baseline commit
 *   npm run bench:ab -w @culex/broker [-- A/index.js B/index.js]
 * BENCH_MESSAGES (default 200000) and BENCH_ROUNDS (default 7) scale a run.
 *
 * Both builds resolve `@culex/packet` from the workspace: keep the baseline copy under the
 * repository's node_modules so that it does.
 */
import { Duplex } from 'node:stream'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { encode } from '@culex/packet'

interface BrokerLike {
  handle (stream: Duplex): unknown
  close (): Promise<void>
}
type BrokerCtor = new (opts: object) => BrokerLike

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const WINDOW = 64 // QoS 1 publisher: unacknowledged PUBLISH at a time
const TOPIC = 'bench/topic/x'
const PAYLOAD = Buffer.alloc(64, 1)

function duplexPair (): [Duplex, Duplex] {
  const make = (peer: () => Duplex): Duplex => new Duplex({
    read () {},
    write (chunk, _enc, cb) {
      peer().push(chunk)
      cb()
    },
    final (cb) {
      peer().push(null)
      cb()
    }
  })
  const a: Duplex = make(() => b)
  const b: Duplex = make(() => a)
  return [a, b]
}

/** Reads whole packets from a byte stream (every packet here is small: 1-byte remaining length, or 2). */
function packets (onPacket: (buf: Buffer, at: number, len: number) => void): (chunk: Buffer) => void {
  let rest: Buffer | null = null
  return (chunk) => {
    const buf = rest === null ? chunk : Buffer.concat([rest, chunk])
    let at = 0
    for (;;) {
      if (buf.length - at < 2) break
      let len = buf[at + 1]!
      let head = 2
      if (len & 0x80) {
        if (buf.length - at < 3) break
        len = (len & 0x7f) | (buf[at + 2]! << 7)
        head = 3
      }
      if (buf.length - at < head + len) break
      onPacket(buf, at, head + len)
      at += head + len
    }
    rest = at === buf.length ? null : buf.subarray(at)
  }
}

async function connect (broker: BrokerLike, clientId: string): Promise<Duplex> {
  const [server, client] = duplexPair()
  broker.handle(server)
  const acked = new Promise<void>((resolve) => { client.once('data', () => { resolve() }) })
  client.write(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 }, 4))
  await acked
  return client
}

async function subscribe (client: Duplex, filter: string, qos: 0 | 1): Promise<void> {
  const acked = new Promise<void>((resolve) => { client.once('data', () => { resolve() }) })
  client.write(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] }, 4))
  await acked
}

interface Rate { cpu: number, wall: number }

/** One run: `subs` subscribers, one publisher of MESSAGES at `qos`; messages delivered per second (CPU and wall). */
async function once (Broker: BrokerCtor, qos: 0 | 1, subs: number): Promise<Rate> {
  const broker = new Broker({ sysInterval: 0 })
  const expected = MESSAGES * subs
  let delivered = 0
  let finish!: () => void
  const done = new Promise<void>((resolve) => { finish = resolve })
  for (let i = 0; i < subs; i++) {
    const s = await connect(broker, `s${i}`)
    await subscribe(s, 'bench/#', qos)
    s.on('data', packets((buf, at) => {
      if ((buf[at]! & 0xf0) !== 0x30) return
      if (qos === 1) {
        // PUBACK the packet id (after the 2-byte topic length and the topic)
        const idAt = at + 2 + 2 + buf.readUInt16BE(at + 2)
        s.write(Buffer.from([0x40, 2, buf[idAt]!, buf[idAt + 1]!]))
      }
      if (++delivered === expected) finish()
    }))
  }
  const pub = await connect(broker, 'p')
  const start = process.hrtime.bigint()
  const cpu0 = process.cpuUsage()
  if (qos === 0) {
    const one = encode({ cmd: 'publish', topic: TOPIC, payload: PAYLOAD, qos: 0, retain: false, dup: false }, 4)
    const BATCH = 256
    const batch = Buffer.concat(Array.from({ length: BATCH }, () => one))
    let sent = 0
    const pump = (): void => {
      while (sent < MESSAGES) {
        sent += BATCH
        pub.write(batch)
        if (sent % (BATCH * 16) === 0) {
          setImmediate(pump) // let deliveries run
          return
        }
      }
    }
    pump()
  } else {
    let sent = 0
    const send = (): void => {
      sent++
      pub.write(encode({ cmd: 'publish', topic: TOPIC, payload: PAYLOAD, qos: 1, retain: false, dup: false, messageId: (sent % 65535) + 1 }, 4))
    }
    pub.on('data', packets((buf, at) => {
      if ((buf[at]! & 0xf0) === 0x40 && sent < MESSAGES) send()
    }))
    for (let i = 0; i < Math.min(WINDOW, MESSAGES); i++) send()
  }
  await done
  const ns = Number(process.hrtime.bigint() - start)
  const used = process.cpuUsage(cpu0)
  await broker.close()
  return { cpu: expected / ((used.user + used.system) / 1e6), wall: expected / (ns / 1e9) }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]!
}

async function main (): Promise<void> {
  const here = new URL('.', import.meta.url).pathname
  const pathA = resolve(process.argv[2] ?? resolve(here, '../../../node_modules/.culex-ab-base/dist/index.js'))
  const pathB = resolve(process.argv[3] ?? resolve(here, '../dist/index.js'))
  const A = (await import(pathToFileURL(pathA).href) as { Broker: BrokerCtor }).Broker
  const B = (await import(pathToFileURL(pathB).href) as { Broker: BrokerCtor }).Broker
  const scenarios: Array<{ name: string, qos: 0 | 1, subs: number }> = [
    { name: 'QoS 0, 1 → 1', qos: 0, subs: 1 },
    { name: 'QoS 0, 1 → 10', qos: 0, subs: 10 },
    { name: 'QoS 1, 1 → 1', qos: 1, subs: 1 },
    { name: 'QoS 1, 1 → 10', qos: 1, subs: 10 }
  ]
  console.log(`A: ${pathA}\nB: ${pathB}\n${MESSAGES} messages per run, ${ROUNDS} rounds (A and B alternate first)\n`)
  // warm-up: both builds, every scenario once
  for (const sc of scenarios) {
    await once(A, sc.qos, sc.subs)
    await once(B, sc.qos, sc.subs)
  }
  console.log('| scenario | A msg/CPU-s | B msg/CPU-s | B / A (CPU) | B / A (wall) |')
  console.log('|---|---:|---:|---:|---:|')
  for (const sc of scenarios) {
    const a: Rate[] = []
    const b: Rate[] = []
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        a.push(await once(A, sc.qos, sc.subs))
        b.push(await once(B, sc.qos, sc.subs))
      } else {
        b.push(await once(B, sc.qos, sc.subs))
        a.push(await once(A, sc.qos, sc.subs))
      }
    }
    const ma = median(a.map((r) => r.cpu))
    const mb = median(b.map((r) => r.cpu))
    const wall = median(b.map((r) => r.wall)) / median(a.map((r) => r.wall))
    console.log(`| ${sc.name} | ${Math.round(ma).toLocaleString('en')} | ${Math.round(mb).toLocaleString('en')} | ${(mb / ma).toFixed(3)} | ${wall.toFixed(3)} |`)
  }
}

await main()
