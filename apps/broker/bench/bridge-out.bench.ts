/**
 * Bridge throughput, local → remote: a publisher sends M QoS 1 messages (64-byte payloads,
 * 100 unacknowledged at a time) to the real culex process, whose bridge forwards them to a
 * real Mosquitto, where a subscriber counts them. Reports messages per second from the first
 * publish to the last arrival, median of the rounds, per store (memory, level).
 *
 * It runs `dist/cli.js`: build another revision there for a before/after comparison on the
 * same machine.
 *
 * Run: npx tsx bench/bridge-out.bench.ts   (BENCH_MESSAGES=5000 BENCH_ROUNDS=3 by default)
 */
import { writeFileSync } from 'node:fs'
import { connect } from '@culex/client'
import { startCulex, tempDir } from '../test/helpers/culex.ts'
import { startMosquitto, mosquittoMissing } from '../test/helpers/mosquitto.ts'

const M = Number(process.env.BENCH_MESSAGES ?? 5000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const WINDOW = 100

const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => { teardowns.push(fn) } }

async function round (store: 'memory' | 'level', mosqPort: number): Promise<number> {
  const remote = await connect(`mqtt://127.0.0.1:${mosqPort}`)
  let got = 0
  let done: () => void = () => {}
  const all = new Promise<void>((resolve) => { done = resolve })
  remote.on('message', () => { if (++got === M) done() })
  await remote.subscribe('site/#', { qos: 1 })
  const dir = tempDir(t)
  const cfg = `${dir}/culex.json`
  writeFileSync(cfg, JSON.stringify({ bridges: [{ name: 'b', url: `mqtt://127.0.0.1:${mosqPort}`, topics: [{ pattern: 'up/#', direction: 'out', qos: 1, remotePrefix: 'site/' }] }] }))
  const culex = await startCulex(t, ['--config', cfg, '--store', store, ...(store === 'level' ? ['--data-dir', `${dir}/data`] : [])], { cwd: dir })
  const deadline = Date.now() + 10_000
  while (!culex.logs.some(l => l.msg === 'bridge b: connected')) {
    if (Date.now() > deadline) throw new Error('bridge did not connect')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const pub = await connect(`mqtt://127.0.0.1:${culex.ports.mqtt!}`)
  const payload = Buffer.alloc(64, 120)
  const t0 = performance.now()
  const inflight: Array<Promise<unknown>> = []
  for (let i = 0; i < M; i++) {
    inflight.push(pub.publish(`up/${i % 10}`, payload, { qos: 1 }))
    if (inflight.length >= WINDOW) await inflight.shift()
  }
  await Promise.all(inflight)
  await all
  const ms = performance.now() - t0
  await pub.end()
  await remote.end()
  culex.proc.kill('SIGTERM')
  await culex.exited
  return M / ms * 1000
}

async function main (): Promise<void> {
  if (mosquittoMissing !== false) {
    console.log(`skipped: ${mosquittoMissing}`)
    return
  }
  const mosq = await startMosquitto(t)
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  for (const store of ['memory', 'level'] as const) {
    const rates: number[] = []
    for (let r = 0; r < ROUNDS; r++) rates.push(await round(store, mosq.port))
    console.log(`store ${store}: ${Math.round(median(rates))} msg/s median of ${ROUNDS} (${rates.map(x => Math.round(x)).join(', ')}), ${M} QoS 1 messages`)
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
}).finally(async () => {
  for (const fn of teardowns.reverse()) await fn()
})
