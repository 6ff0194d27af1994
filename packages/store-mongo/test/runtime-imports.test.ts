/**
 * The store needs @culex/broker for its types only (a peer): no built module imports it at
 * run time. The record format comes from @culex/packet/record.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { runtimeImporters } from '@culex/test-kit'

const dist = new URL('../dist/', import.meta.url)
t.test('no built module imports @culex/broker at run time', { skip: existsSync(dist) ? false : 'not built (run the build first)' }, async (t) => {
  t.same(runtimeImporters(dist, '@culex/broker'), [], 'none of dist/*.js imports @culex/broker')
})
