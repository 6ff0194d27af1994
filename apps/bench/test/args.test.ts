import t from 'tap'
import { BenchErrorCode, USAGE, defaultsFor, isBenchError, parseCliArgs } from '../src/index.ts'

function opts (argv: string[]) {
  const r = parseCliArgs(argv)
  if (r.help) throw new Error('unexpected help')
  return r.options
}

t.test('scenario defaults match the broker targets', async (t) => {
  const fanIn = opts(['fan-in'])
  t.equal(fanIn.publishers, 4)
  t.equal(fanIn.subscribers, 1)
  t.equal(fanIn.qos, 0)
  t.equal(fanIn.port, 1883)
  t.equal(fanIn.host, '127.0.0.1')
  t.equal(fanIn.duration, 10)
  t.equal(fanIn.warmup, 2)
  t.equal(fanIn.maxLag, 2000)
  t.match(fanIn.prefix, /^bench\/[a-z0-9]+$/)
  const fanOut = opts(['fan-out'])
  t.equal(fanOut.publishers, 1)
  t.equal(fanOut.subscribers, 50)
  t.equal(opts(['latency']).rate, 1000)
  t.equal(opts(['backlog']).qos, 1)
  t.equal(opts(['backlog']).messages, 10000)
  const ov = opts(['overload'])
  t.same([ov.publishers, ov.subscribers, ov.qos, ov.inflight, ov.messages], [4, 1, 1, 100, 100000], 'overload: 4 publishers × 100 unacked QoS 1, 100,000 messages')
  t.equal(opts(['overload', '--persistent', '--qos', '2']).persistent, true, 'overload takes --persistent')
  t.equal(opts(['fan-in', '--qos', '1']).inflight, 32, 'other scenarios keep the window of 32')
  t.equal(opts(['retained']).messages, 1000)
  t.equal(opts(['storm']).clients, 1000)
  t.equal(opts(['storm']).subscribe, true)
  t.equal(opts(['storm', '--no-subscribe']).subscribe, false)
  t.same(defaultsFor('storm'), { publishers: 0, subscribers: 0 })
})

t.test('flags are parsed', async (t) => {
  const o = opts(['fan-in', '--host', 'broker.local', '--port', '1884', '--publishers', '8', '--qos', '2', '--inflight', '100',
    '--size', '1024', '--duration', '0.5', '--warmup', '0', '--rate', '5000', '--pid', '42', '--json', '--label', 'x', '--prefix', 'a/b', '--timeout', '3'])
  t.equal(o.host, 'broker.local')
  t.equal(o.port, 1884)
  t.equal(o.publishers, 8)
  t.equal(o.qos, 2)
  t.equal(o.inflight, 100)
  t.equal(o.size, 1024)
  t.equal(o.duration, 0.5)
  t.equal(o.warmup, 0)
  t.equal(o.rate, 5000)
  t.equal(o.pid, 42)
  t.equal(o.json, true)
  t.equal(o.progress, false, 'no progress with --json')
  t.equal(o.label, 'x')
  t.equal(o.prefix, 'a/b')
  t.equal(o.timeout, 3)
  const tty = parseCliArgs(['fan-out'], { isTTY: true })
  t.equal(!tty.help && tty.options.progress, true, 'progress on a TTY')
  const quiet = parseCliArgs(['fan-out', '--no-progress'], { isTTY: true })
  t.equal(!quiet.help && quiet.options.progress, false)
  t.same(parseCliArgs(['--help']), { help: true })
  t.match(USAGE, /fan-in/)
})

const bad: Array<[string[], RegExp]> = [
  [[], /missing scenario/],
  [['fan-up'], /unknown scenario "fan-up"/],
  [['fan-in', 'fan-out'], /expected one scenario/],
  [['fan-in', '--bogus'], /bogus/],
  [['fan-in', '--port'], /port/],
  [['fan-in', '--port', '70000'], /--port expects an integer in \[1, 65535\], got 70000/],
  [['fan-in', '--port', 'abc'], /--port expects an integer.*got "abc"/],
  [['fan-in', '--qos', '3'], /--qos/],
  [['fan-in', '--publishers', '0'], /--publishers/],
  [['fan-in', '--duration', 'x'], /--duration expects a number/],
  [['fan-in', '--duration', '0'], /--duration expects a number in \[0.1/],
  [['fan-in', '--rate', ''], /--rate/],
  [['fan-in', '--host', ''], /--host/],
  [['fan-in', '--prefix', 'a/#'], /--prefix/],
  [['latency', '--size', '4'], /at least 8/],
  [['latency', '--rate', '0'], /--rate must be > 0/],
  [['storm', '--ceiling'], /--ceiling applies to/],
  [['fan-in', '--ceiling', '--pid', '1'], /exclude each other/],
  [['backlog', '--persistent'], /--persistent applies to fan-in, fan-out and overload, not backlog/],
  [['overload', '--ceiling'], /--ceiling applies to fan-in, fan-out and latency, not overload/],
  [['fan-out', '--persistent', '--ceiling'], /--persistent and --ceiling exclude each other/]
]

for (const [argv, re] of bad) {
  t.test(`bad arguments: ${argv.join(' ') || '(none)'}`, async (t) => {
    try {
      parseCliArgs(argv)
      t.fail('expected an error')
    } catch (err) {
      t.ok(isBenchError(err))
      t.equal((err as { code: string }).code, BenchErrorCode.badArgument)
      t.match((err as Error).message, re)
    }
  })
}
