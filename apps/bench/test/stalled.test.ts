import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { stalledSuite } from '../src/compare/suite.ts'
import { parseCliArgs, runScenario, type BenchOptions } from '../src/index.ts'
import { quick, startAedes } from './helpers.ts'

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'broker', 'dist', 'cli.js')

function opts (argv: string[]): BenchOptions {
  const r = parseCliArgs(argv)
  if (r.help) throw new Error('help')
  return r.options
}

t.test('stalled: defaults and the suite', async (t) => {
  const o = opts(['stalled'])
  t.same([o.publishers, o.subscribers, o.qos, o.inflight, o.messages], [4, 2, 1, 32, 5_000_000], '4 publishers (2 QoS 0, 2 QoS 1 window 32) → 2 healthy subscribers')
  t.throws(() => opts(['stalled', '--ceiling']), /--ceiling applies to fan-in, fan-out and latency, not stalled/)
  const entries = stalledSuite(false)
  t.same(entries.map(e => e.id), ['stalled', 'stalled-1s'])
  t.same(entries[1]?.brokerArgs, { culex: ['--stall-timeout', '1000'] }, 'the second entry shortens culex’s stall timeout')
  t.ok(entries.every(e => e.pid === true), 'both read the broker’s RSS')
  t.same(entries[0]?.metrics.map(m => m.path), ['deliveredRate', 'stalled.baselineRate', 'stalled.ratioPercent', 'stalled.qos1RatioPercent', 'stalled.rssGrowthKiB', 'stalled.lostAfterAck'])
  t.match(stalledSuite(true)[0]?.args.join(' '), /--duration 2/, 'quick shortens the windows')
})

const skip = existsSync(cli) ? false : `${cli} is not built (npm run build -w @culex/cli)`

t.test('stalled against culex: the # subscriber that stopped reading is disconnected, the healthy ones lose nothing', { skip }, async (t) => {
  const child = spawn(process.execPath, [cli, '--store', 'memory', '--host', '127.0.0.1', '--port', '0', '--sys-interval', '0', '--stall-timeout', '200'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`culex did not report a port in 10 s: ${out}`)), 10000)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(Number(m[1])) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`culex exited with ${code}: ${out}`)) })
  })
  const r = await runScenario(opts(['stalled', '--port', String(port), '--pid', String(child.pid), '--warmup', '0.2', '--duration', '1', '--timeout', '5', '--json']))
  const s = r.stalled!
  t.equal(r.scenario, 'stalled')
  t.ok(s.acknowledged > 0, `QoS 1 acknowledged: ${s.acknowledged}`)
  t.equal(s.lostAfterAck, 0, 'no acknowledged QoS 1 message lost for the healthy subscribers')
  t.equal(r.lossPercent, 0)
  t.ok(s.baselineRate > 0 && s.stalledRate > 0 && s.afterRate > 0, `healthy deliveries in every phase (${Math.round(s.baselineRate)}, ${Math.round(s.stalledRate)}, ${Math.round(s.afterRate)} msg/s)`)
  t.ok(Number.isFinite(s.ratioPercent), `ratio ${s.ratioPercent.toFixed(1)} %`)
  t.ok(s.rssBeforeKiB > 0 && s.rssPeakKiB >= s.rssBeforeKiB, `RSS ${s.rssBeforeKiB} -> ${s.rssPeakKiB} KiB`)
  t.equal(s.disconnected, true, 'stalled beyond --stall-timeout: disconnected')
  await t.rejects(runScenario(quick(['stalled', '--port', String(port), '--size', '4'])), { code: 'BENCH_ERR_BAD_ARGUMENT' }, 'the payload carries 8 bytes of identity')
  await t.rejects(runScenario(quick(['stalled', '--port', String(port), '--publishers', '1'])), { code: 'BENCH_ERR_BAD_ARGUMENT' }, 'QoS 0 and QoS 1 publishers are needed')
})

t.test('stalled against aedes (no stall timeout, no RSS without --pid): still measured', async (t) => {
  const a = await startAedes()
  t.teardown(a.close)
  const r = await runScenario(quick(['stalled', '--port', String(a.port)]))
  const s = r.stalled!
  t.equal(s.lostAfterAck, 0, 'aedes keeps what it acknowledged too')
  t.ok(Number.isNaN(s.rssBeforeKiB), 'no --pid: no RSS')
  t.ok(s.baselineRate > 0, 'healthy deliveries measured')
})
