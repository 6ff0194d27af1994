/**
 * Broker heap per idle connection: N raw TCP clients (in a child process) connect with
 * CONNECT (3.1.1, keepalive 60) and one SUBSCRIBE each (none with BENCH_SUBSCRIBE=0), then
 * sit idle. Measured in the
 * broker process: heapUsed + external (after GC) before and after, divided by N.
 * Run: node --expose-gc --import tsx bench/memory.bench.ts [culex|aedes]
 */
import net from 'node:net'
import { once } from 'node:events'
import { fork } from 'node:child_process'
import { Aedes } from 'aedes'
import { Broker } from '../src/index.ts'

const N = Number(process.env.BENCH_CONNECTIONS ?? 2000)
const SUBSCRIBE = process.env.BENCH_SUBSCRIBE !== '0'

if (process.argv[2] === 'client') {
  const port = Number(process.argv[3])
  const sockets: net.Socket[] = []
  const connect = Buffer.from([0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, 0x69, 0x64])
  let ok = 0
  for (let i = 0; i < N; i++) {
    const s = net.connect(port, '127.0.0.1')
    const id = Buffer.from(`c${String(i).padStart(5, '0')}`)
    const conn = Buffer.concat([Buffer.from([0x10, 12 + id.length, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, id.length]), id])
    s.on('connect', () => s.write(conn))
    s.once('data', () => {
      if (SUBSCRIBE) s.write(Buffer.from([0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 0x61, 0x2f, 0x62, 0x00]))
      if (++ok === N) process.send!('ready')
    })
    s.on('error', () => {})
    sockets.push(s)
  }
  if (connect.length === 0) process.exit(1)
  process.on('message', () => process.exit(0))
} else {
  const kind = process.argv[2] ?? 'culex'
  let server: net.Server
  if (kind === 'bare') {
    // sockets only, reading and answering CONNACK: the floor every broker pays
    server = net.createServer((s) => { s.once('data', () => s.write(Buffer.from([0x20, 0x02, 0, 0]))); s.on('data', () => {}) })
  } else if (kind === 'aedes') {
    const aedes = await Aedes.createBroker()
    server = net.createServer(aedes.handle)
  } else {
    const broker = new Broker({ sysInterval: 0 })
    server = net.createServer((s) => { broker.handle(s) })
  }
  server.listen(0)
  await once(server, 'listening')
  const gc = (globalThis as { gc?: () => void }).gc!
  const measure = (): number => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.external }
  const before = measure()
  const child = fork(new URL(import.meta.url).pathname, ['client', String((server.address() as net.AddressInfo).port)], { execArgv: ['--import', 'tsx'] })
  await once(child, 'message')
  await new Promise((resolve) => setTimeout(resolve, 500))
  const after = measure()
  console.log(`${kind}: ${N} idle connections${SUBSCRIBE ? ' with one subscription each' : ''}, ${((after - before) / N / 1024).toFixed(2)} KB per connection`)
  child.send('bye')
  await once(child, 'exit')
  process.exit(0)
}
