import t from 'tap'
import fc from 'fast-check'
import { cpuPercent, dueMessages, expectedDeliveries, intendedSendTime, lossPercent, median, memoryPerConnection, minMax, perSecond, ratio, rotate } from '../src/index.ts'

t.test('rates and deliveries', async (t) => {
  t.equal(perSecond(5000, 2000), 2500)
  t.equal(perSecond(10, 0), 0, 'no time, no rate')
  t.equal(expectedDeliveries(1000, 50), 50000, 'fan-out 1 -> 50 multiplies')
  t.equal(expectedDeliveries(4000, 1), 4000, 'fan-in delivers each publish once')
  t.equal(lossPercent(1000, 900), 10)
  t.equal(lossPercent(1000, 1100), 0, 'never negative (messages from before the window)')
  t.equal(lossPercent(0, 5), 0)
  t.equal(memoryPerConnection(100000, 118000, 1000), 18)
  t.equal(memoryPerConnection(1, 2, 0), 0)
  t.equal(cpuPercent({ user: 400000, system: 100000 }, 1000), 50)
  t.equal(cpuPercent({ user: 1, system: 1 }, 0), 0)
})

t.test('fixed-rate schedule never sends ahead and catches up exactly', async (t) => {
  t.equal(dueMessages(1000, 10, 0), 10)
  t.equal(dueMessages(1000, 10, 10), 0)
  t.equal(dueMessages(1000, 10, 12), 0, 'ahead: nothing due')
  t.equal(intendedSendTime(1000, 0), 1)
  t.equal(intendedSendTime(500, 9), 20)
  fc.assert(fc.property(fc.integer({ min: 1, max: 100000 }), fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 100 }), (rate, steps) => {
    let elapsed = 0
    let sent = 0
    for (const dt of steps) {
      elapsed += dt
      sent += dueMessages(rate, elapsed, sent)
      if (sent !== Math.floor((rate * elapsed) / 1000)) return false
    }
    return true
  }))
  t.pass('sent always equals floor(rate x elapsed)')
})

t.test('median, min-max, ratio, rotate', async (t) => {
  t.equal(median([3, 1, 2]), 2)
  t.equal(median([4, 1, 2, 3]), 2.5)
  t.ok(Number.isNaN(median([])))
  t.same(minMax([5, -1, 3]), [-1, 5])
  t.ok(minMax([]).every(Number.isNaN))
  t.equal(ratio(200, 100, true), 2, 'higher is better')
  t.equal(ratio(3, 18, false), 6, 'lower is better: 3 KiB vs 18 KiB is 6x better')
  t.ok(Number.isNaN(ratio(1, 0, true)))
  t.ok(Number.isNaN(ratio(0, 1, false)))
  t.ok(Number.isNaN(ratio(NaN, 1, true)))
  t.same(rotate(['a', 'b', 'c'], 0), ['a', 'b', 'c'])
  t.same(rotate(['a', 'b', 'c'], 1), ['b', 'c', 'a'])
  t.same(rotate(['a', 'b', 'c'], 5), ['c', 'a', 'b'])
  t.same(rotate([], 3), [])
  fc.assert(fc.property(fc.array(fc.integer()), fc.nat(), (list, r) => {
    const out = rotate(list, r)
    return out.length === list.length && [...out].sort().join() === [...list].sort().join()
  }))
})
