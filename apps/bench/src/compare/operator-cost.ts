#!/usr/bin/env node
/**
 * npm run bench:operator -w culex-bench — what the operator's surface costs the message path.
 *
 * The QoS 0 fan-in scenario (4 publishers → 1 wildcard subscriber) against `culex --store
 * memory`, in interleaved rounds (the variant order rotates each round), one fresh broker per
 * run, with:
 *  - plain: no HTTP listener;
 *  - http: `--http-port` on (which also turns on the store latency histogram), nothing asks it;
 *  - metrics-1s / metrics-15s: `/metrics` scraped every 1 s / 15 s (first scrape at once) for
 *    the whole run, as Prometheus would;
 *  - console: the web console open in headless Debian chromium (playwright-core), logged in
 *    with the token, for the whole run (it polls the admin API: overview 1 s, clients 1 s,
 *    retained and $SYS 3 s);
 *  - health-1s (only when asked for): `/health` every 1 s, the HTTP work of metrics-1s without
 *    the metrics.
 * The broker runs on CPU 0; the generator, the scraper and chromium on CPU 1 (taskset), where
 * an operator's Prometheus and browser would be another machine. Reports delivered msg/s per
 * variant (median, min–max, spread), the ratio of medians to plain, and the median of the
 * per-round ratios (each variant against the plain run of the same round).
 *
 * Then, unless --no-idle-cost, the broker-side CPU of the surface itself, robust to other load
 * on the machine (it is the broker's own CPU time, from /proc): per `/metrics` scrape (500 back
 * to back), and as a share of a core over 20 s idle and 20 s with the console open.
 *
 * Flags: --rounds 5  --duration 10  --warmup 2  --variants plain,http,metrics-1s,metrics-15s,console
 *        --qos 0|1  --persistent  --store memory|level  --no-pin  --no-idle-cost  --out file.json  --quick
 */
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { rotate } from '../math.ts'
import type { BenchResult } from '../result.ts'
import { availability, benchDir, brokerVersion, freePort, startBroker, which } from './brokers.ts'
import { failWith, loadAverage, machineMeta, parseFlags, runGenerator } from './harness.ts'
import { VARIANTS, costTable, summarizeCost, type LoadReport, type Sample, type Variant } from './operator-summary.ts'

const TOKEN = 'bench-operator-token-0123456789'
const CHROMIUM = '/usr/bin/chromium'

const fail: (message: string) => never = failWith('bench:operator')

/** GET a path of the listener with the token: status, body length, duration (ms). */
function get (port: number, p: string): Promise<{ status: number, bytes: number, ms: number }> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, headers: { authorization: `Bearer ${TOKEN}` }, agent: false }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => { bytes += c.length })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - t0 }) })
      res.on('error', reject)
    })
    req.setTimeout(10000, () => req.destroy(new Error(`no answer to GET ${p} in 10 s`)))
    req.on('error', reject)
  })
}

async function waitHealthy (port: number): Promise<void> {
  const deadline = Date.now() + 10000
  for (;;) {
    try {
      if ((await get(port, '/health')).status === 200) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`the HTTP listener on 127.0.0.1:${port} did not answer /health within 10 s`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/**
 * CPU seconds (user + system, all threads) process `pid` used so far, from /proc/PID/stat;
 * null off Linux. Clock ticks are 100 per second on every Linux we run on (USER_HZ).
 */
function cpuSeconds (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the command name (which may hold spaces) in parentheses
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return null
  }
}

/** Scrape `/metrics` every `everyMs` (first at once) until stopped. */
function startScraper (port: number, everyMs: number, p = '/metrics'): { stop: () => Promise<LoadReport> } {
  const r: LoadReport = { requests: 0, failures: 0, bytes: 0, meanMs: 0 }
  let total = 0
  let inflight: Promise<void> = Promise.resolve()
  const scrape = (): void => {
    inflight = get(port, p).then((x) => {
      r.requests++
      if (x.status !== 200) r.failures++
      r.bytes += x.bytes
      total += x.ms
    }, () => { r.requests++; r.failures++ })
  }
  scrape()
  const timer = setInterval(scrape, everyMs)
  return {
    stop: async () => {
      clearInterval(timer)
      await inflight
      r.meanMs = r.requests > 0 ? total / r.requests : 0
      return r
    }
  }
}

type Browser = Awaited<ReturnType<typeof import('playwright-core')['chromium']['launch']>>

/** Chromium, pinned to `cpu` through a wrapper script when given. */
async function launchChromium (cpu: string | null, tmp: string): Promise<Browser> {
  const { chromium } = await import('playwright-core')
  let executablePath = CHROMIUM
  if (cpu !== null) {
    executablePath = path.join(tmp, 'chromium-pinned.sh')
    writeFileSync(executablePath, `#!/bin/sh\nexec taskset -c ${cpu} ${CHROMIUM} "$@"\n`)
    chmodSync(executablePath, 0o755)
  }
  return await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
}

/** Open the console, log in with the token, keep it open until stopped. */
async function openConsole (browser: Browser, port: number): Promise<{ stop: () => Promise<LoadReport> }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } })
  const page = await context.newPage()
  const r: LoadReport = { requests: 0, failures: 0, bytes: 0, meanMs: 0 }
  let counting = false
  page.on('requestfinished', (req) => { if (counting && req.url().includes('/api/')) r.requests++ })
  page.on('requestfailed', (req) => { if (counting && req.url().includes('/api/')) r.failures++ })
  page.on('response', (res) => { if (counting && res.url().includes('/api/') && res.status() !== 200) r.failures++ })
  await page.goto(`http://127.0.0.1:${port}/`)
  await page.fill('#login-token', TOKEN)
  await page.click('#login-submit')
  await page.waitForSelector('#overview', { timeout: 10000 })
  counting = true
  return {
    stop: async () => {
      counting = false
      await context.close()
      return r
    }
  }
}

/** The broker-side CPU cost of the operator's surface, measured on an otherwise idle broker. */
interface IdleCost {
  /** Broker CPU per `/metrics` scrape, ms (over `scrapes` back-to-back scrapes). */
  scrapeCpuMs: number
  scrapes: number
  /** Bytes of one scrape. */
  scrapeBytes: number
  /** Broker CPU share (% of one core) while idle with the listener on, and with the console open. */
  idleCpuPercent: number
  consoleCpuPercent: number | null
  /** Over how many seconds each share was taken. */
  windowS: number
}

/**
 * Start culex with the listener, let it settle, then read its CPU time around `scrapes`
 * back-to-back scrapes, around `windowS` idle seconds, and around `windowS` seconds with the
 * console open.
 */
async function idleCost (brokerCpu: string | null, store: 'memory' | 'level', browser: Browser | null, windowS: number, scrapes: number): Promise<IdleCost> {
  const httpPort = await freePort()
  const h = await startBroker('culex', { cpu: brokerCpu, queueLimit: 100000, persistence: store, extraArgs: ['--http-port', String(httpPort), '--http-token', TOKEN] })
  try {
    await waitHealthy(httpPort)
    const cpu = (): number => {
      const c = cpuSeconds(h.pid)
      if (c === null) throw new Error('no /proc/PID/stat: the idle cost needs Linux')
      return c
    }
    let bytes = 0
    for (let i = 0; i < 20; i++) bytes = (await get(httpPort, '/metrics')).bytes
    await new Promise(resolve => setTimeout(resolve, 1000))
    const c0 = cpu()
    for (let i = 0; i < scrapes; i++) await get(httpPort, '/metrics')
    const scrapeCpuMs = ((cpu() - c0) * 1000) / scrapes
    const share = async (): Promise<number> => {
      const a = cpu()
      const t0 = performance.now()
      await new Promise(resolve => setTimeout(resolve, windowS * 1000))
      return ((cpu() - a) / ((performance.now() - t0) / 1000)) * 100
    }
    const idleCpuPercent = await share()
    let consoleCpuPercent: number | null = null
    if (browser !== null) {
      const c = await openConsole(browser, httpPort)
      try {
        consoleCpuPercent = await share()
      } finally {
        await c.stop()
      }
    }
    return { scrapeCpuMs, scrapes, scrapeBytes: bytes, idleCpuPercent, consoleCpuPercent, windowS }
  } finally {
    await h.stop()
  }
}

async function main (): Promise<void> {
  const v = parseFlags({
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    variants: { type: 'string' },
    qos: { type: 'string' },
    persistent: { type: 'boolean' },
    store: { type: 'string' },
    'no-pin': { type: 'boolean' },
    out: { type: 'string' },
    quick: { type: 'boolean' },
    'no-idle-cost': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' }
  }, fail)
  if (v.help === true) {
    process.stdout.write('Usage: npm run bench:operator -w culex-bench -- [--rounds 5] [--duration 10] [--warmup 2] [--variants plain,http,metrics-1s,metrics-15s,console] [--qos 0|1] [--persistent] [--store memory|level] [--no-pin] [--no-idle-cost] [--out file.json] [--quick]\n')
    return
  }
  const quick = v.quick === true
  const rounds = Number(v.rounds ?? (quick ? 1 : 5))
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) fail(`--rounds expects an integer in [1, 50], got "${v.rounds}"`)
  const duration = Number(v.duration ?? (quick ? 2 : 10))
  const warmup = Number(v.warmup ?? (quick ? 0.5 : 2))
  if (!(duration > 0) || !(warmup >= 0)) fail('--duration expects seconds > 0 and --warmup seconds ≥ 0')
  const qos = v.qos ?? '0'
  if (qos !== '0' && qos !== '1') fail(`--qos expects 0 or 1, got "${qos}"`)
  const store = v.store ?? 'memory'
  if (store !== 'memory' && store !== 'level') fail(`--store expects memory or level, got "${store}"`)
  const variants = (v.variants ?? VARIANTS.filter(x => x !== 'health-1s').join(',')).split(',').map(s => s.trim()) as Variant[]
  for (const x of variants) if (!VARIANTS.includes(x)) fail(`--variants: unknown "${x}": expected some of ${VARIANTS.join(', ')}`)
  if (!variants.includes('plain')) fail('--variants must include plain (the baseline)')
  if (!availability('culex').ok) fail(availability('culex').reason)
  if (variants.includes('console') && !existsSync(CHROMIUM)) fail(`${CHROMIUM} not installed (Debian package chromium): leave console out of --variants`)
  const pin = v['no-pin'] !== true && which('taskset') !== null && os.cpus().length >= 2
  const brokerCpu = pin ? '0' : null
  const sideCpu = pin ? '1' : null
  if (pin && process.env.BENCH_OPERATOR_PINNED === undefined) {
    // this process scrapes and drives chromium: keep it off the broker's CPU too (not a CULEX_*
    // variable: culex refuses unknown ones, and its children inherit the environment)
    const child = spawn('taskset', ['-c', sideCpu as string, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_OPERATOR_PINNED: '1' }
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    process.exitCode = code ?? 1
    return
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'culex-bench-operator-'))
  const started = new Date()
  const gen = ['fan-in', '--publishers', '4', '--qos', qos, ...(qos === '1' ? ['--inflight', '32'] : []), ...(v.persistent === true ? ['--persistent'] : []),
    '--warmup', String(warmup), '--duration', String(duration)]
  const meta = {
    ...machineMeta(started, pin ? 'broker on CPU 0; generator, scraper and chromium on CPU 1 (taskset)' : 'not pinned'),
    culex: brokerVersion('culex'),
    store,
    generator: gen.join(' '),
    rounds,
    variants
  }
  process.stderr.write(`bench:operator: ${variants.join(', ')} × ${rounds} rounds of "${gen.join(' ')}"; ${meta.pinned}\n`)
  let browser: Browser | null = null
  const samples: Sample[] = []
  try {
    if (variants.includes('console')) browser = await launchChromium(sideCpu, tmp)
    for (let round = 0; round < rounds; round++) {
      for (const variant of rotate(variants, round)) {
        const t0 = Date.now()
        let sample: Sample
        try {
          const httpPort = variant === 'plain' ? null : await freePort()
          const extraArgs = httpPort === null ? [] : ['--http-port', String(httpPort), '--http-token', TOKEN]
          const h = await startBroker('culex', { cpu: brokerCpu, queueLimit: 100000, persistence: store, extraArgs })
          try {
            let load: { stop: () => Promise<LoadReport> } | null = null
            if (httpPort !== null) {
              await waitHealthy(httpPort)
              if (variant === 'metrics-1s') load = startScraper(httpPort, 1000)
              if (variant === 'metrics-15s') load = startScraper(httpPort, 15000)
              if (variant === 'health-1s') load = startScraper(httpPort, 1000, '/health')
              if (variant === 'console') load = await openConsole(browser as Browser, httpPort)
            }
            let r: { result?: BenchResult, error?: string }
            const cpu0 = cpuSeconds(h.pid)
            const wall0 = performance.now()
            let cpuShare: number | null = null
            try {
              r = await runGenerator([...gen, '--port', String(h.port), '--label', variant], sideCpu, 300000)
              const cpu1 = cpuSeconds(h.pid)
              if (cpu0 !== null && cpu1 !== null) cpuShare = (cpu1 - cpu0) / ((performance.now() - wall0) / 1000)
            } finally {
              const report = load === null ? undefined : await load.stop()
              sample = { round, variant, ...(report === undefined ? {} : { load: report }) }
            }
            if (r.result !== undefined) {
              sample.rate = r.result.deliveredRate ?? 0
              if (cpuShare !== null && cpuShare > 0) {
                sample.brokerCpu = cpuShare
                sample.ratePerCpu = sample.rate / cpuShare
              }
              sample.lossPercent = r.result.lossPercent ?? 0
              sample.generatorCpuPercent = r.result.generatorCpuPercent
            } else sample.error = r.error ?? 'no result'
          } finally {
            await h.stop()
          }
        } catch (err) {
          sample = { round, variant, error: (err as Error).message }
        }
        samples.push(sample)
        const shown = sample.error !== undefined
          ? `FAILED: ${sample.error}`
          : `${Math.round(sample.rate ?? 0).toLocaleString('en-US')} msg/s, broker CPU ${((sample.brokerCpu ?? NaN) * 100).toFixed(0)} %${sample.load === undefined ? '' : `, ${sample.load.requests} requests (${sample.load.failures} failed)`}`
        process.stderr.write(`  round ${round + 1} ${variant.padEnd(12)} ${shown} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`)
      }
    }
  } catch (err) {
    await browser?.close()
    rmSync(tmp, { recursive: true, force: true })
    throw err
  }
  if (v['no-idle-cost'] === true) {
    await browser?.close()
    rmSync(tmp, { recursive: true, force: true })
  }
  const summary = summarizeCost(variants, samples, rounds)
  const table = costTable(summary)
  process.stdout.write('\n' + table)
  let idle: IdleCost | null = null
  if (v['no-idle-cost'] !== true) {
    if (variants.includes('console') && browser === null) browser = await launchChromium(sideCpu, tmp)
    try {
      idle = await idleCost(brokerCpu, store, browser, quick ? 3 : 20, quick ? 50 : 500)
    } finally {
      await browser?.close()
      rmSync(tmp, { recursive: true, force: true })
    }
    process.stdout.write(`\nidle broker with the listener: ${idle.scrapeCpuMs.toFixed(2)} ms of broker CPU per /metrics scrape (${idle.scrapes} scrapes of ${idle.scrapeBytes} bytes), ` +
      `${idle.idleCpuPercent.toFixed(2)} % of a core idle${idle.consoleCpuPercent === null ? '' : `, ${idle.consoleCpuPercent.toFixed(2)} % with the console open`} (${idle.windowS} s windows)\n`)
  }
  const end = { durationS: Math.round((Date.now() - started.getTime()) / 1000), loadAverageAtEnd: loadAverage() }
  process.stdout.write(`\nload average ${meta.loadAverageAtStart.join(' / ')} at start, ${end.loadAverageAtEnd.join(' / ')} at end; ${end.durationS} s\n`)
  const out = v.out ?? path.join(benchDir, 'results', `operator-cost-${started.toISOString().replace(/[:.]/g, '-')}.json`)
  mkdirSync(path.dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify({ meta: { ...meta, ...end }, samples, summary, idle }, null, 2) + '\n')
  process.stderr.write(`bench:operator: wrote ${out}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:operator: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
