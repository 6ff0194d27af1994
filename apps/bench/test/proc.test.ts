import t from 'tap'
import { BenchErrorCode, parseVmRss, readRssKiB } from '../src/index.ts'

t.test('VmRSS parsing', async (t) => {
  t.equal(parseVmRss('Name:\tnode\nVmPeak:\t 999 kB\nVmRSS:\t   12345 kB\nThreads: 7\n'), 12345)
  t.equal(parseVmRss('Name: x\n'), null)
})

t.test('reads this process, fails clearly for a missing pid', { skip: process.platform !== 'linux' ? 'needs /proc (Linux)' : false }, async (t) => {
  const rss = await readRssKiB(process.pid)
  t.ok(rss > 1000, `own RSS ${rss} KiB`)
  await t.rejects(readRssKiB(2 ** 31 - 2), { code: BenchErrorCode.badArgument, message: /cannot read \/proc\/\d+\/status/ })
})
