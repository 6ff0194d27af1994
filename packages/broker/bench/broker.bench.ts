/**
 * Rough side-by-side: culex vs aedes 1.2.0 over real TCP on loopback, same raw clients.
 * Publishers write pre-encoded PUBLISH packets as fast as the socket accepts them;
 * subscribers count received bytes (every delivered packet has the same size).
 * Run: npm run bench -w @culex/broker
 */
import net from 'node:net'
import { once } from 'node:events'
import mqttPacket from 'mqtt-packet'
import { Aedes } from 'aedes'
import { Broker } from '../src/index.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const enc = (p: object): Buffer => mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: 4 })

async function client (port: number, id: string): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1')
  s.setNoDelay(true)
  await once(s, 'connect')
  s.write(enc({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: id, clean: true, keepalive: 0 }))
  await once(s, 'data')
  return s
}

async function subscribe (s: net.Socket, topic: string, qos: number): Promise<void> {
  s.write(enc({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] }))
  await once(s, 'data')
}

interface Scenario { name: string, pubs: number, subs: number, qos: 0 | 1 }

async function run (kind: 'culex' | 'aedes', sc: Scenario): Promise<number> {
  let server: net.Server
  let close: () => Promise<void>
  if (kind === 'culex') {
    const broker = new Broker({ sysInterval: 0 })
    server = net.createServer((sock) => { broker.handle(sock) })
    close = async () => { await broker.close() }
  } else {
    const aedes = await Aedes.createBroker()
    server = net.createServer(aedes.handle)
    close = () => new Promise((resolve) => { aedes.close(() => resolve()) })
  }
  server.listen(0)
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  const payload = Buffer.alloc(64, 1)
  const topic = 'bench/topic/x'
  const pkt = enc({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false })
  let received = 0
  const subs: net.Socket[] = []
  for (let i = 0; i < sc.subs; i++) {
    const s = await client(port, `s${i}`)
    await subscribe(s, 'bench/#', sc.qos)
    let pending: Buffer = Buffer.alloc(0)
    s.on('data', (d: Buffer) => {
      if (sc.qos === 0) {
        received += d.length
        return
      }
      // QoS 1: ack every PUBLISH (fixed size frames)
      pending = pending.length === 0 ? d : Buffer.concat([pending, d])
      let off = 0
      const size = pkt.length + 2
      const acks: Buffer[] = []
      while (pending.length - off >= size) {
        const id = pending.readUInt16BE(off + 2 + 2 + topic.length)
        acks.push(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]))
        off += size
        received += pkt.length
      }
      pending = pending.subarray(off)
      if (acks.length > 0) s.write(Buffer.concat(acks))
    })
    subs.push(s)
  }
  const pubs: net.Socket[] = []
  let stop = false
  let nextId = 0
  for (let i = 0; i < sc.pubs; i++) {
    const p = await client(port, `p${i}`)
    p.on('data', () => {})
    pubs.push(p)
    const pump = (): void => {
      if (!stop) {
        let buf: Buffer
        if (sc.qos === 0) {
          buf = Buffer.concat(Array.from({ length: 8 }, () => pkt))
        } else {
          const parts: Buffer[] = []
          for (let k = 0; k < 8; k++) {
            nextId = nextId % 65000 + 1
            parts.push(enc({ cmd: 'publish', topic, payload, qos: 1, messageId: nextId, retain: false, dup: false }))
          }
          buf = Buffer.concat(parts)
        }
        // yield between writes so both brokers see a stream of chunks, not one synchronous batch
        if (!p.write(buf)) p.once('drain', pump)
        else setImmediate(pump)
      }
    }
    pump()
  }
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000))
  stop = true
  const rate = received / pkt.length / SECONDS
  for (const s of [...subs, ...pubs]) s.destroy()
  await close()
  server.close()
  return rate
}

const scenarios: Scenario[] = [
  { name: 'QoS 0 fan-in 4 -> 1', pubs: 4, subs: 1, qos: 0 },
  { name: 'QoS 0 fan-out 1 -> 50', pubs: 1, subs: 50, qos: 0 },
  { name: 'QoS 1 1 -> 1 (acked)', pubs: 1, subs: 1, qos: 1 }
]
console.log('| scenario | culex msg/s | aedes msg/s | ratio |')
console.log('|---|---:|---:|---:|')
for (const sc of scenarios) {
  const a = await run('aedes', sc)
  const c = await run('culex', sc)
  console.log(`| ${sc.name} | ${Math.round(c)} | ${Math.round(a)} | ${(c / a).toFixed(2)} |`)
}
process.exit(0)
