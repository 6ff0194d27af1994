/**
 * Command-line parsing for culex-bench. Pure: returns options or throws a BenchError with
 * code BENCH_ERR_BAD_ARGUMENT naming the flag, what was expected and what was given.
 */
import { parseArgs } from 'node:util'
import { BenchError, BenchErrorCode } from './errors.ts'

/** Scenario names the CLI accepts. */
export const SCENARIOS = ['fan-in', 'fan-out', 'latency', 'storm', 'backlog', 'retained', 'overload', 'stalled'] as const
export type ScenarioName = typeof SCENARIOS[number]

/** Everything a scenario run needs. Defaults depend on the scenario (see {@link defaultsFor}). */
export interface BenchOptions {
  scenario: ScenarioName
  host: string
  port: number
  publishers: number
  subscribers: number
  /** Payload size in bytes. */
  size: number
  qos: 0 | 1 | 2
  /** QoS 1/2 window: unacknowledged publishes per publisher. */
  inflight: number
  /** Measured seconds. */
  duration: number
  /** Seconds run before measuring (counts discarded). */
  warmup: number
  /** Offered messages/s over all publishers; 0 = as fast as the broker accepts. */
  rate: number
  /** Flow control: most expected deliveries outstanding before publishers wait; 0 = off. */
  maxLag: number
  /** fan-in / fan-out: subscribers keep a persistent session (clean session off). */
  persistent: boolean
  /** storm: number of clients. */
  clients: number
  /** storm: connects in progress at once. */
  concurrency: number
  /** storm: connects started per second; 0 = unlimited. */
  connectRate: number
  /** storm: subscribe each client to its own topic after CONNACK. */
  subscribe: boolean
  /** storm: seconds to wait after the last connect before reading the broker's RSS. */
  settle: number
  /** storm: seconds to keep the clients connected after measuring. */
  hold: number
  /** backlog / retained: number of messages. */
  messages: number
  /** Broker process id, to read VmRSS from /proc/PID/status. */
  pid: number | null
  /** Seconds to wait for any expected answer before failing. */
  timeout: number
  /** Free-form label copied into the result (e.g. the broker's name). */
  label: string
  /** Topic prefix; default bench/<random> so runs don't see each other. */
  prefix: string
  json: boolean
  /** Run against the built-in relay instead of a broker. */
  ceiling: boolean
  /** Print progress on stderr (default: when stderr is a TTY and not --json). */
  progress: boolean
}

/** Usage text printed by --help and after argument errors. */
export const USAGE = `Usage: culex-bench <scenario> [options]

Scenarios:
  fan-in     P publishers -> 1 subscriber on a wildcard (defaults: 4 -> 1)
  fan-out    1 publisher -> S subscribers on one topic (defaults: 1 -> 50)
  latency    fixed offered rate, latency p50/p90/p99/p99.9/max (timestamp in payload)
  storm      N clients connect (+ subscribe); connect rate, broker memory per connection
  backlog    persistent session: queue N messages while offline, then time the drain
  retained   N retained messages, then time their burst on a wildcard subscribe
  overload   P publishers (4) x --inflight (100) unacknowledged QoS 1/2 -> 1 wildcard
             subscriber: acknowledged, delivered, lost after ack, duplicates
  stalled    P publishers (4: half QoS 0, half QoS 1) -> S (2) healthy wildcard
             subscribers; then a # subscriber that never reads joins: healthy
             msg/s vs without it, broker RSS (--pid), QoS 1 lost after ack

Target:
  --host H            broker host (127.0.0.1)
  --port N            broker port (1883)
  --pid N             broker pid: read its VmRSS from /proc/N/status
  --ceiling           run against a trivial in-process relay (the generator's own limit)
Load:
  --publishers N      publishing clients
  --subscribers N     subscribing clients
  --size N            payload bytes (64; latency needs >= 8)
  --qos 0|1|2         publish and subscribe QoS (0)
  --inflight N        QoS 1/2 unacknowledged publishes per publisher (32)
  --rate N            offered messages/s over all publishers (latency: 1000; else 0 = max)
  --persistent        fan-in/fan-out/overload: subscribers keep persistent sessions
                      (clean session off), so QoS 1/2 goes through the broker's store
  --max-lag N         pause publishers while N deliveries are outstanding,
                      0 = no flow control (2000)
  --duration S        measured seconds (10)
  --warmup S          seconds before measuring (2)
  --clients N         storm: clients (1000)
  --concurrency N     storm: connects in progress at once (100)
  --connect-rate N    storm: connects per second, 0 = unlimited (0)
  --no-subscribe      storm: connect only
  --settle S          storm: seconds before reading RSS (2)
  --hold S            storm: seconds to stay connected afterwards (0)
  --messages N        backlog/retained/overload: messages (10000 / 1000 / 100000);
                      stalled: most QoS 1 messages per publisher (5000000)
Output:
  --json              one JSON line per result (and per error)
  --label TEXT        label copied into the result
  --prefix TOPIC      topic prefix (bench/<random>)
  --timeout S         seconds to wait for any expected answer (10)
  --no-progress       no progress line on a TTY
  -h, --help          this text
`

/** Scenario-dependent defaults. */
export function defaultsFor (scenario: ScenarioName): Partial<BenchOptions> {
  switch (scenario) {
    case 'fan-in': return { publishers: 4, subscribers: 1 }
    case 'fan-out': return { publishers: 1, subscribers: 50 }
    case 'latency': return { publishers: 1, subscribers: 1, rate: 1000 }
    case 'storm': return { publishers: 0, subscribers: 0 }
    case 'backlog': return { publishers: 1, subscribers: 1, qos: 1, messages: 10000 }
    case 'retained': return { publishers: 1, subscribers: 1, messages: 1000 }
    case 'overload': return { publishers: 4, subscribers: 1, qos: 1, inflight: 100, messages: 100000 }
    case 'stalled': return { publishers: 4, subscribers: 2, qos: 1, inflight: 32, messages: 5_000_000 }
  }
}

function bad (message: string): BenchError {
  return new BenchError(BenchErrorCode.badArgument, message)
}

function int (flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined
  if (!/^\d+$/.test(raw)) throw bad(`--${flag} expects an integer in [${min}, ${max}], got "${raw}"`)
  const n = Number(raw)
  if (n < min || n > max) throw bad(`--${flag} expects an integer in [${min}, ${max}], got ${n}`)
  return n
}

function num (flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n)) throw bad(`--${flag} expects a number in [${min}, ${max}], got "${raw}"`)
  if (n < min || n > max) throw bad(`--${flag} expects a number in [${min}, ${max}], got ${n}`)
  return n
}

/** Result of {@link parseCliArgs}: either help was asked for, or options to run. */
export type ParsedArgs = { help: true } | { help: false, options: BenchOptions }

/**
 * Parses argv (without node and script).
 * @throws BenchError BENCH_ERR_BAD_ARGUMENT on unknown flags, missing or bad values,
 *   an unknown or missing scenario, or inconsistent combinations.
 */
export function parseCliArgs (argv: readonly string[], env: { isTTY?: boolean } = {}): ParsedArgs {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        pid: { type: 'string' },
        ceiling: { type: 'boolean' },
        publishers: { type: 'string' },
        subscribers: { type: 'string' },
        size: { type: 'string' },
        qos: { type: 'string' },
        inflight: { type: 'string' },
        rate: { type: 'string' },
        'max-lag': { type: 'string' },
        persistent: { type: 'boolean' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        clients: { type: 'string' },
        concurrency: { type: 'string' },
        'connect-rate': { type: 'string' },
        'no-subscribe': { type: 'boolean' },
        settle: { type: 'string' },
        hold: { type: 'string' },
        messages: { type: 'string' },
        json: { type: 'boolean' },
        label: { type: 'string' },
        prefix: { type: 'string' },
        timeout: { type: 'string' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    throw new BenchError(BenchErrorCode.badArgument, (err as Error).message, { cause: err })
  }
  const v = parsed.values
  if (v.help === true) return { help: true }
  if (parsed.positionals.length === 0) throw bad(`missing scenario: expected one of ${SCENARIOS.join(', ')}`)
  if (parsed.positionals.length > 1) throw bad(`expected one scenario, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`)
  const name = parsed.positionals[0] as string
  if (!(SCENARIOS as readonly string[]).includes(name)) throw bad(`unknown scenario "${name}": expected one of ${SCENARIOS.join(', ')}`)
  const scenario = name as ScenarioName
  const d = defaultsFor(scenario)
  const qos = int('qos', v.qos, 0, 2) ?? d.qos ?? 0
  const json = v.json === true
  const options: BenchOptions = {
    scenario,
    host: v.host ?? '127.0.0.1',
    port: int('port', v.port, 1, 65535) ?? 1883,
    publishers: int('publishers', v.publishers, 1, 10000) ?? d.publishers ?? 1,
    subscribers: int('subscribers', v.subscribers, 1, 10000) ?? d.subscribers ?? 1,
    size: int('size', v.size, 0, 16 * 1024 * 1024) ?? 64,
    qos: qos as 0 | 1 | 2,
    inflight: int('inflight', v.inflight, 1, 65535) ?? d.inflight ?? 32,
    rate: num('rate', v.rate, 0, 1e9) ?? d.rate ?? 0,
    maxLag: int('max-lag', v['max-lag'], 0, 1e9) ?? 2000,
    duration: num('duration', v.duration, 0.1, 86400) ?? 10,
    warmup: num('warmup', v.warmup, 0, 3600) ?? 2,
    persistent: v.persistent === true,
    clients: int('clients', v.clients, 1, 1000000) ?? 1000,
    concurrency: int('concurrency', v.concurrency, 1, 100000) ?? 100,
    connectRate: num('connect-rate', v['connect-rate'], 0, 1e7) ?? 0,
    subscribe: v['no-subscribe'] !== true,
    settle: num('settle', v.settle, 0, 600) ?? 2,
    hold: num('hold', v.hold, 0, 86400) ?? 0,
    messages: int('messages', v.messages, 1, 10000000) ?? d.messages ?? 1000,
    pid: int('pid', v.pid, 1, 2 ** 31) ?? null,
    timeout: num('timeout', v.timeout, 0.1, 3600) ?? 10,
    label: v.label ?? '',
    prefix: v.prefix ?? `bench/${Math.random().toString(36).slice(2, 8)}`,
    json,
    ceiling: v.ceiling === true,
    progress: v['no-progress'] !== true && !json && env.isTTY === true
  }
  if (options.host === '') throw bad('--host expects a host name or address, got ""')
  if (/[#+]/.test(options.prefix) || options.prefix === '') throw bad(`--prefix expects a topic without wildcards, got "${options.prefix}"`)
  if (scenario === 'latency') {
    if (options.size < 8) throw bad(`--size must be at least 8 for latency (the payload carries a timestamp), got ${options.size}`)
    if (options.rate <= 0) throw bad('--rate must be > 0 for latency: it measures at a fixed offered rate')
  }
  if (options.ceiling && (scenario === 'storm' || scenario === 'backlog' || scenario === 'retained' || scenario === 'overload' || scenario === 'stalled')) {
    throw bad(`--ceiling applies to fan-in, fan-out and latency, not ${scenario} (the relay keeps no sessions or retained messages)`)
  }
  if (options.persistent && scenario !== 'fan-in' && scenario !== 'fan-out' && scenario !== 'overload') throw bad(`--persistent applies to fan-in, fan-out and overload, not ${scenario}`)
  if (options.persistent && options.ceiling) throw bad('--persistent and --ceiling exclude each other: the relay keeps no sessions')
  if (options.ceiling && options.pid !== null) throw bad('--ceiling and --pid exclude each other: the relay runs in this process')
  return { help: false, options }
}
