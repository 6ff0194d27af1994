import net from 'node:net'
import t from 'tap'
import { BenchErrorCode, runScenario } from '../src/index.ts'
import { quick, startAedes } from './helpers.ts'

// every scenario, briefly, against aedes 1.2.0 in this process (a real broker from npm).
// Throughput runs are paced (--rate): flat out, aedes shares this event loop with the
// generator and its internal queue can overflow the call stack (mqemitter recursion).
t.test('scenarios against aedes', async (t) => {
  const aedes = await startAedes()
  t.teardown(aedes.close)
  const port = String(aedes.port)

  const fanIn = await runScenario(quick(['fan-in', '--port', port, '--label', 'aedes', '--rate', '20000']))
  t.equal(fanIn.scenario, 'fan-in')
  t.equal(fanIn.label, 'aedes')
  t.ok((fanIn.delivered ?? 0) > 0, `fan-in delivered ${fanIn.delivered}`)
  t.ok((fanIn.deliveredRate ?? 0) > 0)
  t.ok(fanIn.generatorCpuPercent > 0, 'reports its own CPU')

  const fanOut = await runScenario(quick(['fan-out', '--port', port, '--subscribers', '5', '--rate', '4000']))
  t.ok((fanOut.delivered ?? 0) >= (fanOut.published ?? 0), 'fan-out delivers more than it publishes')

  const qos1 = await runScenario(quick(['fan-in', '--port', port, '--qos', '1', '--inflight', '8']))
  t.ok((qos1.published ?? 0) > 0, 'QoS 1 publishes are acknowledged')
  const qos2 = await runScenario(quick(['fan-out', '--port', port, '--qos', '2', '--subscribers', '2', '--rate', '2000']))
  t.ok((qos2.delivered ?? 0) > 0, 'QoS 2 at a rate delivers')

  const lat = await runScenario(quick(['latency', '--port', port, '--rate', '2000', '--qos', '1']))
  t.ok((lat.latencyMs?.count ?? 0) > 300, `latency samples ${lat.latencyMs?.count}`)
  t.ok((lat.latencyMs?.p50 ?? -1) >= 0)
  t.ok((lat.latencyMs?.p99 ?? 0) >= (lat.latencyMs?.p50 ?? 0), 'p99 >= p50')

  const storm = await runScenario(quick(['storm', '--port', port, '--clients', '50', '--concurrency', '10', '--pid', String(process.pid), '--settle', '0']))
  t.equal(storm.connect?.clients, 50)
  t.ok((storm.connect?.ratePerSecond ?? 0) > 0)
  t.ok(storm.memory !== undefined && storm.memory.rssAfterKiB > 0, 'reads RSS of the given pid')

  const paced = await runScenario(quick(['storm', '--port', port, '--clients', '10', '--connect-rate', '100', '--no-subscribe']))
  t.ok((paced.durationMs) >= 80, `10 connects at 100/s take >= 90 ms (${paced.durationMs.toFixed(0)} ms)`)

  const backlog = await runScenario(quick(['backlog', '--port', port, '--messages', '500']))
  t.equal(backlog.delivered, 500, 'the whole backlog drains')

  const retained = await runScenario(quick(['retained', '--port', port, '--messages', '200']))
  t.equal(retained.delivered, 200, 'every retained message arrives')

  await t.rejects(runScenario(quick(['backlog', '--port', port, '--qos', '0'])), { code: BenchErrorCode.badArgument })
})

t.test('ceiling: the in-process relay', async (t) => {
  const r = await runScenario(quick(['fan-in', '--ceiling']))
  t.ok((r.deliveredRate ?? 0) > 10000, `relay fan-in ${Math.round(r.deliveredRate ?? 0)} msg/s`)
  t.match(r.label, /ceiling/)
  const q2 = await runScenario(quick(['fan-out', '--ceiling', '--qos', '2', '--subscribers', '3']))
  t.ok((q2.delivered ?? 0) > 0)
  const lat = await runScenario(quick(['latency', '--ceiling', '--rate', '500']))
  t.ok((lat.latencyMs?.count ?? 0) > 100)
})

t.test('unreachable broker: an error naming it, quickly', async (t) => {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const started = Date.now()
  await t.rejects(runScenario(quick(['fan-in', '--port', String(port)])), {
    code: BenchErrorCode.unreachable,
    message: new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`)
  })
  t.ok(Date.now() - started < 3000, 'fails fast')
})

t.test('silent broker: CONNACK timeout', async (t) => {
  const sockets: net.Socket[] = []
  const server = net.createServer((s) => { sockets.push(s) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  const port = (server.address() as net.AddressInfo).port
  const o = quick(['fan-in', '--port', String(port)])
  o.timeout = 0.3
  await t.rejects(runScenario(o), { code: BenchErrorCode.timeout, message: /no CONNACK from broker at 127\.0\.0\.1:\d+ within 0\.3 s/ })
})

t.test('broker that drops connections mid-run: an error naming it', async (t) => {
  // accepts, CONNACKs and SUBACKs, then closes every connection after 150 ms
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('data', (chunk) => {
      if (chunk[0] === 0x10) s.write(Buffer.from([0x20, 2, 0, 0]))
      if (chunk[0] === 0x82) s.write(Buffer.from([0x90, 3, chunk[2] as number, chunk[3] as number, 0]))
    })
    setTimeout(() => s.destroy(), 150)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  const port = (server.address() as net.AddressInfo).port
  const o = quick(['fan-in', '--port', String(port)])
  o.duration = 5
  const started = Date.now()
  await t.rejects(runScenario(o), { code: BenchErrorCode.disconnected, message: new RegExp(`broker at 127\\.0\\.0\\.1:${port} closed the connection of client cb-|client cb-\\S+ to broker at 127\\.0\\.0\\.1:${port} failed: ECONNRESET`) })
  t.ok(Date.now() - started < 2000, 'does not wait for the end of the run')
})

t.test('broker that sends a malformed frame', async (t) => {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('data', (chunk) => {
      if (chunk[0] === 0x10) s.write(Buffer.from([0x20, 2, 0, 0]))
      if (chunk[0] === 0x82) s.write(Buffer.from([0x90, 3, chunk[2] as number, chunk[3] as number, 0]))
      if (chunk[0] === 0x30) s.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  const port = (server.address() as net.AddressInfo).port
  const o = quick(['fan-in', '--port', String(port), '--publishers', '1'])
  await t.rejects(runScenario(o), { code: BenchErrorCode.protocol })
})

t.test('refused subscription and refused CONNECT', async (t) => {
  const sockets = new Set<net.Socket>()
  let refuseConnect = false
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('data', (chunk) => {
      if (chunk[0] === 0x10) s.write(Buffer.from([0x20, 2, 0, refuseConnect ? 5 : 0]))
      if (chunk[0] === 0x82) s.write(Buffer.from([0x90, 3, chunk[2] as number, chunk[3] as number, 0x80]))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  const port = String((server.address() as net.AddressInfo).port)
  await t.rejects(runScenario(quick(['fan-in', '--port', port])), { code: BenchErrorCode.refused, message: /rejected subscription/ })
  refuseConnect = true
  await t.rejects(runScenario(quick(['fan-in', '--port', port])), { code: BenchErrorCode.refused, message: /return code 5/ })
})
