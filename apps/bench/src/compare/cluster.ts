/**
 * `npm run bench:cluster -w culex-bench`: what `--cluster` costs, and what a second node buys.
 *
 * Three setups, fresh for every round and entry, in rotated order:
 *  - plain:    one culex, `--store memory`, pinned to CPU 0;
 *  - plain-redis: one culex on a fresh redis-server store, without `--cluster` (what the
 *    cluster costs beyond the store), pinned to CPU 0;
 *  - cluster1: one culex `--cluster` on a fresh redis-server (store and bus), pinned to CPU 0;
 *  - cluster2: two culex `--cluster` nodes on one fresh redis-server, pinned to CPU 0 and 1.
 * (pinning with `taskset` when it exists; redis-server and the generator are not pinned.)
 *
 * Entries: QoS 0 fan-in 4→1 and QoS 1 fan-in 4→1 with a window of 32. On cluster2 the clients
 * are split: the subscriber and publishers 0 and 2 on node 1, publishers 1 and 3 on node 2,
 * so half of the messages cross nodes. Cross-node latency (cluster2: publisher on node 2,
 * subscriber on node 1, QoS 1 at 2,000 msg/s) and the same on one plain node for reference.
 * The generator runs in this process (one core), as `culex-bench` would.
 *
 * Prints medians (min–max) and the ratios cluster1/plain, cluster1/plain-redis and
 * cluster2/cluster1.
 *
 * Options: `--rounds N` (3), `--duration S` (4), `--quick` (1 round of 2 s), `--no-pin`,
 * `--only fanin-q0,fanin-q1,lat-p50`, `--setups plain,cluster2`, `--max-lag N` (the
 * generator's flow control, default 2000 outstanding deliveries). `CLUSTER_BENCH_PROF=dir`
 * runs the nodes with `--cpu-prof` into `dir`.
 *
 * What skews it: the generator's flow control keeps at most `--max-lag` deliveries
 * outstanding, so a setup whose path is longer (two nodes: publisher → node → Redis → node →
 * subscriber) is bounded by that window over its latency, not only by CPU; on a machine
 * whose cores are busy with other work, each extra process hop costs scheduling delay.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { parseCliArgs, type BenchOptions } from '../args.ts'
import type { BenchClient } from '../client.ts'
import { RunContext } from '../context.ts'
import { median, minMax } from '../math.ts'
import type { BenchResult } from '../result.ts'
import { runLatency } from '../scenarios/latency.ts'
import { runThroughput } from '../scenarios/throughput.ts'
import { benchDir, freePort, pinned, which } from './brokers.ts'

const culexCli = path.resolve(benchDir, '..', 'broker', 'dist', 'cli.js')
const SETUPS = ['plain', 'plain-redis', 'cluster1', 'cluster2'] as const
type Setup = typeof SETUPS[number]

/** A RunContext whose clients go to different nodes: subscribers to the first, publishers round-robin. */
class SplitContext extends RunContext {
  readonly #ports: number[]
  readonly #subPort: number
  #pubs = 0
  constructor (options: BenchOptions, ports: number[], subPort: number) {
    super(options, '127.0.0.1', ports[0]!)
    this.#ports = ports
    this.#subPort = subPort
  }

  override async connect (role: string, opts: { clientId?: string, clean?: boolean } = {}): Promise<BenchClient> {
    const port = role === 'pub' ? this.#ports[this.#pubs++ % this.#ports.length]! : this.#subPort
    // RunContext.connect reads this.port: give it the node for this client
    ;(this as unknown as { port: number }).port = port
    return await super.connect(role, opts)
  }
}

async function canConnect (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { s.destroy(); resolve(false) })
  })
}

interface Proc { port: number, stop: () => Promise<void> }

async function startProc (cmd: string, args: string[], port: number, what: string): Promise<Proc> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000) })
  const state = { exited: false }
  const exit = new Promise<void>((resolve) => child.once('exit', () => { state.exited = true; resolve() }))
  child.once('error', () => {})
  const stop = async (): Promise<void> => {
    if (state.exited) return
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exit
    clearTimeout(t)
  }
  for (const deadline = Date.now() + 15_000; Date.now() < deadline && !state.exited;) {
    if (await canConnect(port)) return { port, stop }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  await stop()
  throw new Error(`${what} did not start on ${port}: ${stderr.trim().slice(-500)}`)
}

async function startRedis (): Promise<Proc> {
  const bin = which('redis-server')
  if (bin === null) throw new Error('redis-server not installed (Debian package redis-server)')
  const port = await freePort()
  const dir = mkdtempSync(path.join(tmpdir(), 'culex-bench-cluster-'))
  const p = await startProc(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'], port, 'redis-server')
  return { port, stop: async () => { await p.stop(); rmSync(dir, { recursive: true, force: true }) } }
}

async function startCulex (args: string[], cpu: string | null): Promise<Proc> {
  const port = await freePort()
  const prof = process.env.CLUSTER_BENCH_PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', process.env.CLUSTER_BENCH_PROF]
  const [c, a] = pinned(cpu, process.execPath, [...prof, culexCli, '--host', '127.0.0.1', '--port', String(port), '--sys-interval', '0', '--max-queued-messages', '100000', ...args])
  return await startProc(c, a, port, 'culex')
}

/** Start a setup; its node ports and a stop function. */
async function startSetup (setup: Setup, pin: boolean): Promise<{ ports: number[], stop: () => Promise<void> }> {
  if (setup === 'plain') {
    const n = await startCulex(['--store', 'memory'], pin ? '0' : null)
    return { ports: [n.port], stop: n.stop }
  }
  const redis = await startRedis()
  if (setup === 'plain-redis') {
    try {
      const n = await startCulex(['--store', `redis://127.0.0.1:${redis.port}`], pin ? '0' : null)
      return { ports: [n.port], stop: async () => { await n.stop(); await redis.stop() } }
    } catch (err) {
      await redis.stop()
      throw err
    }
  }
  const store = ['--store', `redis://127.0.0.1:${redis.port}`, '--cluster']
  const nodes: Proc[] = []
  try {
    nodes.push(await startCulex([...store, '--node-id', 'bench-1'], pin ? '0' : null))
    if (setup === 'cluster2') nodes.push(await startCulex([...store, '--node-id', 'bench-2'], pin ? '1' : null))
  } catch (err) {
    for (const n of nodes) await n.stop()
    await redis.stop()
    throw err
  }
  // let the nodes see each other (heartbeat 1 s) before measuring
  await new Promise(resolve => setTimeout(resolve, 1500))
  return {
    ports: nodes.map((n) => n.port),
    stop: async () => { for (const n of nodes) await n.stop(); await redis.stop() }
  }
}

interface Entry { id: string, title: string, args: string[], metric: (r: BenchResult) => number, unit: string }

function entries (duration: number, maxLag: string | undefined): Entry[] {
  const d = ['--duration', String(duration), '--warmup', '1', '--no-progress', ...(maxLag === undefined ? [] : ['--max-lag', maxLag])]
  return [
    { id: 'fanin-q0', title: 'QoS 0 fan-in 4→1', args: ['fan-in', '--qos', '0', ...d], metric: (r) => r.deliveredRate ?? NaN, unit: 'delivered msg/s' },
    { id: 'fanin-q1', title: 'QoS 1 fan-in 4→1, window 32', args: ['fan-in', '--qos', '1', '--inflight', '32', ...d], metric: (r) => r.deliveredRate ?? NaN, unit: 'delivered msg/s' },
    { id: 'lat-p50', title: 'latency QoS 1 at 2,000 msg/s (cluster2: across nodes)', args: ['latency', '--qos', '1', '--rate', '2000', ...d], metric: (r) => r.latencyMs?.p50 ?? NaN, unit: 'p50 ms' },
    { id: 'lat-p99', title: '', args: [], metric: (r) => r.latencyMs?.p99 ?? NaN, unit: 'p99 ms' }
  ]
}

async function runOne (options: BenchOptions, ports: number[]): Promise<BenchResult> {
  // latency: publisher on the last node, subscriber on the first; throughput: split round-robin
  const ctx = options.scenario === 'latency'
    ? new SplitContext(options, [ports[ports.length - 1]!], ports[0]!)
    : new SplitContext(options, ports, ports[0]!)
  try {
    const work = options.scenario === 'latency' ? runLatency(ctx) : runThroughput(ctx)
    work.catch(() => {})
    return await Promise.race([work, ctx.failed])
  } finally {
    await ctx.closeAll()
  }
}

/** A ratio of medians, or – when a setup of it was not run (`--setups`). */
const ratio = (r: number): string => Number.isFinite(r) ? `${r.toFixed(2)}×` : '–'
const fmt = (v: number, unit: string): string => unit.endsWith(' ms') ? v.toFixed(3) : Math.round(v).toLocaleString('en-US')

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, duration: { type: 'string' }, quick: { type: 'boolean' }, 'no-pin': { type: 'boolean' }, only: { type: 'string' }, setups: { type: 'string' }, 'max-lag': { type: 'string' } } })
  const quick = values.quick === true
  const rounds = Number(values.rounds ?? (quick ? 1 : 3))
  const duration = Number(values.duration ?? (quick ? 2 : 4))
  const pin = values['no-pin'] !== true && which('taskset') !== null
  const only = values.only?.split(',') ?? null
  const list = entries(duration, values['max-lag']).filter((e) => only === null || only.includes(e.id) || (e.id === 'lat-p99' && only.includes('lat-p50')))
  const setups = (values.setups?.split(',') ?? [...SETUPS]).filter((s): s is Setup => (SETUPS as readonly string[]).includes(s))
  // samples[entry id][setup] = values
  const samples = new Map<string, Map<Setup, number[]>>()
  const add = (id: string, s: Setup, v: number): void => {
    let m = samples.get(id)
    if (m === undefined) samples.set(id, (m = new Map()))
    let a = m.get(s)
    if (a === undefined) m.set(s, (a = []))
    a.push(v)
  }
  const started = new Date()
  const load0 = loadavg()
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < setups.length; k++) {
      const setup = setups[(k + round) % setups.length]!
      for (const e of list) {
        if (e.args.length === 0) continue
        const parsed = parseCliArgs(e.args)
        if (parsed.help) continue
        const running = await startSetup(setup, pin)
        try {
          const r = await runOne(parsed.options, running.ports)
          add(e.id, setup, e.metric(r))
          if (e.id === 'lat-p50') add('lat-p99', setup, r.latencyMs?.p99 ?? NaN)
          process.stderr.write(`round ${round + 1}/${rounds} ${setup} ${e.id}: ${fmt(e.metric(r), e.unit)} ${e.unit}${r.lossPercent !== undefined && r.lossPercent >= 0.5 ? ` loss ${r.lossPercent.toFixed(1)} %` : ''}\n`)
        } finally {
          await running.stop()
        }
      }
    }
  }
  const load1 = loadavg()
  const cell = (id: string, s: Setup, unit: string): string => {
    const v = samples.get(id)?.get(s) ?? []
    if (v.length === 0) return '–'
    const [lo, hi] = minMax(v)
    return `${fmt(median(v), unit)} (${fmt(lo, unit)}–${fmt(hi, unit)})`
  }
  const med = (id: string, s: Setup): number => median(samples.get(id)?.get(s) ?? [NaN])
  console.log(`Run of ${started.toISOString()}: ${rounds} round(s), ${duration} s per entry, Node ${process.version}, pinning ${pin ? 'on (taskset)' : 'off'}; load average ${load0.map((x) => x.toFixed(2)).join(' / ')} at start, ${load1.map((x) => x.toFixed(2)).join(' / ')} at end.`)
  console.log('')
  console.log('| entry | metric | plain | plain-redis | cluster1 | cluster2 | cluster1 / plain | cluster1 / plain-redis | cluster2 / cluster1 |')
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const e of list) {
    const lower = e.unit.endsWith(' ms')
    const r1 = lower ? med(e.id, 'plain') / med(e.id, 'cluster1') : med(e.id, 'cluster1') / med(e.id, 'plain')
    const r2 = lower ? med(e.id, 'cluster1') / med(e.id, 'cluster2') : med(e.id, 'cluster2') / med(e.id, 'cluster1')
    const r3 = lower ? med(e.id, 'plain-redis') / med(e.id, 'cluster1') : med(e.id, 'cluster1') / med(e.id, 'plain-redis')
    console.log(`| ${e.title === '' ? '〃' : e.title} | ${e.unit} | ${cell(e.id, 'plain', e.unit)} | ${cell(e.id, 'plain-redis', e.unit)} | ${cell(e.id, 'cluster1', e.unit)} | ${cell(e.id, 'cluster2', e.unit)} | ${ratio(r1)} | ${ratio(r3)} | ${ratio(r2)} |`)
  }
  console.log('')
  console.log('Ratios are of medians; for latency, lower is better and the ratio is inverted (> 1 = better).')
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
